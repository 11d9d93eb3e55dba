// Small fakes of the browser for the SDK's unit tests: cookies, localStorage, fetch,
// sendBeacon, timers, events and a DOM just large enough for render(). Each test loads the SDK
// source into a fresh vm context holding these fakes as its globals, as a page would.

import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const SOURCE = readFileSync(
  new URL('../../src/shopwise/api/assets/shopwise.js', import.meta.url),
  'utf8',
);

export class FakeStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }
  setItem(key, value) {
    this.map.set(key, String(value));
  }
  removeItem(key) {
    this.map.delete(key);
  }
  json(key) {
    const value = this.getItem(key);
    return value === null ? null : JSON.parse(value);
  }
}

/** A cookie jar behind `document.cookie`, as a browser parses assignments. */
export class CookieJar {
  constructor() {
    this.values = new Map();
    this.written = [];
  }
  get cookie() {
    return [...this.values].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  set cookie(line) {
    this.written.push(line);
    const [pair, ...attributes] = line.split(';').map((part) => part.trim());
    const [name, ...value] = pair.split('=');
    const maxAge = attributes.find((a) => a.toLowerCase().startsWith('max-age='));
    if (maxAge && Number(maxAge.split('=')[1]) <= 0) this.values.delete(name);
    else this.values.set(name, value.join('='));
  }
}

/** Timers run by hand: `advance(ms)` fires what falls due, in order, draining promises. */
export class FakeTimers {
  constructor() {
    this.now = Date.parse('2026-03-01T12:00:00Z');
    this.tasks = new Map();
    this.next = 1;
    this.scheduled = []; // delays asked for with setTimeout, in order
  }
  setTimeout(fn, ms = 0) {
    const id = this.next++;
    this.tasks.set(id, { at: this.now + ms, fn, every: null });
    this.scheduled.push(ms);
    return id;
  }
  setInterval(fn, ms) {
    const id = this.next++;
    this.tasks.set(id, { at: this.now + ms, fn, every: ms });
    return id;
  }
  clear(id) {
    this.tasks.delete(id);
  }
  async advance(ms) {
    const end = this.now + ms;
    for (;;) {
      await settle();
      const due = [...this.tasks].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at);
      if (!due.length) break;
      const [id, task] = due[0];
      this.now = task.at;
      if (task.every) task.at += task.every;
      else this.tasks.delete(id);
      task.fn();
    }
    this.now = end;
    await settle();
  }
}

export async function settle() {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

class Listeners {
  constructor() {
    this.listeners = {};
  }
  addEventListener(name, fn) {
    (this.listeners[name] ||= []).push(fn);
  }
  dispatch(name, event = {}) {
    for (const fn of this.listeners[name] || []) fn({ type: name, ...event });
  }
}

export class FakeElement extends Listeners {
  constructor(tag) {
    super();
    this.tagName = tag.toUpperCase();
    this.attributes = {};
    this.children = [];
    this.parentNode = null;
    this.className = '';
    this.textContent = '';
  }
  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }
  getAttribute(name) {
    return name in this.attributes ? this.attributes[name] : null;
  }
  appendChild(child) {
    child.parentNode = this;
    this.children.push(child);
    return child;
  }
  removeChild(child) {
    this.children = this.children.filter((c) => c !== child);
    child.parentNode = null;
    return child;
  }
  get firstChild() {
    return this.children[0] || null;
  }
  *descendants() {
    for (const child of this.children) {
      yield child;
      yield* child.descendants();
    }
  }
  querySelectorAll(selector) {
    const attribute = /^\[([\w-]+)\]$/.exec(selector);
    if (attribute) return [...this.descendants()].filter((n) => n.getAttribute(attribute[1]) !== null);
    const className = /^\.([\w-]+)$/.exec(selector)[1];
    return [...this.descendants()].filter((n) => n.className.split(' ').includes(className));
  }
  querySelector(selector) {
    return this.querySelectorAll(selector)[0] || null;
  }
  /** A click on this element, bubbling up to its ancestors' listeners. */
  click() {
    const event = { type: 'click', target: this };
    for (let node = this; node; node = node.parentNode) {
      for (const fn of node.listeners.click || []) fn(event);
    }
  }
}

class FakeDocument extends Listeners {
  constructor(jar) {
    super();
    this.jar = jar;
    this.visibilityState = 'visible';
    this.referrer = 'https://search.example/?q=shoes';
    this.title = 'Shoes';
    this.body = new FakeElement('body');
    this.documentElement = { scrollHeight: 4000, clientHeight: 1000, scrollTop: 0 };
  }
  get cookie() {
    return this.jar.cookie;
  }
  set cookie(line) {
    this.jar.cookie = line;
  }
  createElement(tag) {
    return new FakeElement(tag);
  }
  querySelectorAll(selector) {
    return this.body.querySelectorAll(selector);
  }
}

/** A fetch answering with `respond(url, init)`: `{status, body, headers}`, or a throw. */
export function fakeFetch(respond) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, init, body: init.body ? JSON.parse(init.body) : null });
    const answer = await respond(url, init);
    const status = answer.status ?? 200;
    calls.at(-1).status = status;
    return {
      ok: status >= 200 && status < 300,
      status,
      headers: { get: (name) => (answer.headers || {})[name] ?? null },
      json: async () => answer.body ?? {},
    };
  };
  return { fetch, calls };
}

export const accepted = () => ({ status: 200, body: { accepted: 1, duplicates: 0, rejected: [] } });
export const offline = () => {
  throw new TypeError('Failed to fetch');
};

/**
 * A page with the SDK loaded. Options: `storage` and `jar` (to share a shopper's browser
 * between page loads), `respond` (the server), `gpc`, `search` (location.search), `beacon`
 * (what sendBeacon returns).
 */
export function loadPage(opts = {}) {
  const storage = opts.storage || new FakeStorage();
  const jar = opts.jar || new CookieJar();
  const timers = new FakeTimers();
  const server = fakeFetch(opts.respond || accepted);
  const beacons = [];
  const document = new FakeDocument(jar);
  const window = new Listeners();
  class FakeDate extends Date {
    constructor(...args) {
      super(...(args.length ? args : [timers.now]));
    }
    static now() {
      return timers.now;
    }
  }
  const sandbox = {
    document,
    localStorage: storage,
    location: {
      href: `https://shop.example/shoes${opts.search || ''}`,
      pathname: '/shoes',
      search: opts.search || '',
      protocol: 'https:',
    },
    navigator: {
      userAgent: 'FakeBrowser/1.0',
      language: 'en-GB',
      globalPrivacyControl: opts.gpc,
      sendBeacon: (url, blob) => {
        beacons.push({ url, blob });
        return opts.beacon ?? true;
      },
    },
    fetch: server.fetch,
    crypto: { randomUUID },
    Blob,
    URLSearchParams,
    Date: FakeDate,
    setTimeout: (fn, ms) => timers.setTimeout(fn, ms),
    clearTimeout: (id) => timers.clear(id),
    setInterval: (fn, ms) => timers.setInterval(fn, ms),
    clearInterval: (id) => timers.clear(id),
    addEventListener: (name, fn) => window.addEventListener(name, fn),
    scrollY: 0,
    innerHeight: 1000,
  };
  vm.createContext(sandbox);
  vm.runInContext(SOURCE, sandbox, { filename: 'shopwise.js' });
  /** Events sent by fetch to /v1/events, in order. */
  const sent = () =>
    server.calls
      .filter((c) => c.url.endsWith('/v1/events') && c.status >= 200 && c.status < 300)
      .flatMap((c) => c.body.batch);
  return { sw: sandbox.shopwise, sandbox, storage, jar, timers, calls: server.calls, sent, beacons, document, window };
}

/** A value of the SDK's realm as a plain value of this one (deepEqual compares prototypes). */
export const plain = (value) => JSON.parse(JSON.stringify(value));

export const KEY = 'sw_write_test';
export const ENDPOINT = 'https://api.shop.example/';
