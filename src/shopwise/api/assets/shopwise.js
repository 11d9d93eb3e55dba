/*
 * shopwise.js: the first-party tracking and rendering SDK of shopwise (served at /sdk/shopwise.js).
 *
 * One plain script, no build step, one global: `shopwise`. It keeps the shopper's anonymous id in
 * a first-party cookie, holds behaviour events until consent allows them, batches them to
 * POST /v1/events (retrying with the same message_id, keeping them in localStorage while the
 * network is down, handing the rest to navigator.sendBeacon when the page is hidden), and renders
 * /v1/decide and /v1/recommendations answers into the page's placement slots.
 */
(function (root) {
'use strict';

const VERSION = '1.0.0';
const COOKIE = 'shopwise_aid';
const K = { aid: 'shopwise_aid', uid: 'shopwise_uid', hash: 'shopwise_uhash',
  consent: 'shopwise_consent', queue: 'shopwise_queue' };
const PURPOSES = ['analytics', 'personalization', 'marketing', 'advertising'];
const TRACKING = ['analytics', 'personalization']; // behaviour events serve one of these
const ALWAYS_OPT_IN = ['marketing', 'advertising'];
const NECESSARY = ['consent_updated']; // sent whatever the choice: it records the choice
const MAX_QUEUE = 1000;
const MAX_PENDING = 200;
const MAX_BATCH = 100;
const BEACON_BYTES = 60000; // browsers refuse beacons over 64 KiB in flight
const BACKOFF_MS = 1000;
const BACKOFF_MAX_MS = 60000;
const MAX_ATTEMPTS = 8; // then wait for the next event, 'online' or the next page
const PING_MS = 10000;
const TEXT_MAX = 2048;
const LISTS = ['similar', 'complementary'];
const SLOTS = ['product', 'category', 'search', 'cart'];
const ACTIVITY = ['scroll', 'mousemove', 'mousedown', 'keydown', 'touchstart', 'wheel'];
const DEFAULTS = { writeKey: null, endpoint: '', consent: null, requireConsent: true,
  flushAt: 20, flushIntervalMs: 1000, autoPage: true, onError: null };

let opts = { ...DEFAULTS };
let started = false;
let queue = []; // allowed events waiting to be sent, mirrored in localStorage
let pending = []; // events made before the shopper decided: memory only
let choices = {}; // explicit choices, purpose -> bool
let decided = false;
let timer = null;
let retryTimer = null;
let inflight = null;
let attempts = 0;
let retryAfterMs = 0; // the Retry-After of the last 429 or 5xx
let persisting = false;
let page = null; // the current page's activity

// -- storage, cookie, ids

function store() {
  try { return root.localStorage || null; } catch (_e) { return null; } // storage disabled
}

function load(key) {
  try {
    const text = store() && store().getItem(key);
    return text ? JSON.parse(text) : null;
  } catch (_e) { return null; }
}

function save(key, value) {
  try {
    const s = store();
    if (!s) return;
    if (value === null || value === undefined) s.removeItem(key);
    else s.setItem(key, JSON.stringify(value));
  } catch (_e) { /* quota exceeded: kept in memory for this page */ }
}

function uuid() {
  if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
  return Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

const text = (v) => (typeof v === 'string' && v ? v.slice(0, TEXT_MAX) : undefined);

function report(error, detail) {
  if (typeof opts.onError !== 'function') return;
  try { opts.onError(error, detail); } catch (_e) { /* the page's callback must not break us */ }
}

function readCookie() {
  const jar = root.document && root.document.cookie;
  const found = (jar || '').split(';').map((p) => p.trim()).find((p) => p.startsWith(`${COOKIE}=`));
  return found ? decodeURIComponent(found.slice(COOKIE.length + 1)) : null;
}

function writeCookie(value) {
  if (!root.document) return;
  const secure = root.location && root.location.protocol === 'https:' ? '; Secure' : '';
  root.document.cookie =
    `${COOKIE}=${encodeURIComponent(value)}; Max-Age=31536000; Path=/; SameSite=Lax${secure}`;
}

function anonymousId() {
  const cookie = readCookie();
  const id = cookie || load(K.aid) || uuid();
  // written back on every read: a year after the last visit, and a cookie the browser
  // cleared comes back from the localStorage mirror
  if (cookie !== id) writeCookie(id);
  if (load(K.aid) !== id) save(K.aid, id);
  return id;
}

const userId = () => load(K.uid);
const search = () => new URLSearchParams((root.location && root.location.search) || '');

// -- consent

const gpc = () => Boolean(root.navigator && root.navigator.globalPrivacyControl === true);

function current() {
  const out = {};
  for (const p of PURPOSES) {
    if (typeof choices[p] === 'boolean') out[p] = choices[p];
    else out[p] = !(ALWAYS_OPT_IN.includes(p) || opts.requireConsent);
  }
  // Global Privacy Control opts out of sale: advertising whatever was said, marketing
  // unless chosen explicitly (opt-in above)
  if (gpc()) out.advertising = false;
  return out;
}

const undecided = () => opts.requireConsent && !decided;
const tracking = () => TRACKING.some((p) => current()[p]);

function statement() {
  const s = { purposes: current(), source: 'sdk' };
  if (gpc()) s.do_not_sell = true;
  return s;
}

function setConsent(given) {
  for (const p of PURPOSES) if (typeof given[p] === 'boolean') choices[p] = given[p];
  decided = true;
  save(K.consent, choices);
  const said = statement();
  if (typeof given.source === 'string') said.source = given.source.slice(0, 64);
  if (typeof given.policy_version === 'string') {
    said.policy_version = given.policy_version.slice(0, 64);
  }
  const held = tracking() ? pending : [];
  pending = [];
  if (!tracking()) {
    // withdrawn: what the network has not taken yet goes too
    queue = queue.filter((e) => NECESSARY.includes(e.type));
    persist();
  }
  enqueue(envelope('consent_updated', {}, { consent: said }));
  for (const event of held) {
    event.context.consent = statement(); // the server filters each event by what it says
    enqueue(event);
  }
  return flush();
}

// -- events

function context(extra) {
  const loc = root.location || {};
  const doc = root.document || {};
  const nav = root.navigator || {};
  const q = search();
  const ctx = {
    page: { url: text(loc.href), path: text(loc.pathname), referrer: text(doc.referrer),
      title: text(doc.title) },
    library: { name: 'shopwise.js', version: VERSION },
    consent: statement(),
    user_agent: text(nav.userAgent),
    locale: typeof nav.language === 'string' ? nav.language.slice(0, 35) : undefined,
  };
  const campaign = {};
  for (const f of ['source', 'medium', 'term', 'content']) campaign[f] = text(q.get(`utm_${f}`));
  campaign.name = text(q.get('utm_campaign'));
  if (Object.values(campaign).some(Boolean)) ctx.campaign = campaign;
  return Object.assign(ctx, extra);
}

function envelope(type, properties, extra) {
  const event = { message_id: uuid(), type, anonymous_id: anonymousId(),
    timestamp: new Date().toISOString(), context: context(extra), properties };
  const user = userId();
  if (user) {
    event.user_id = user;
    if (load(K.hash)) event.user_hash = load(K.hash);
  }
  return event;
}

function track(type, properties) {
  if (!started) throw new Error('shopwise.init() must be called first');
  if (typeof type !== 'string' || !type) throw new TypeError('track: type must be a string');
  const event = envelope(type, { ...properties });
  if (undecided()) {
    pending.push(event);
    if (pending.length > MAX_PENDING) pending.shift();
  } else if (tracking()) enqueue(event);
  // refused: nothing is kept
  return event.message_id;
}

function enqueue(event) {
  queue.push(event);
  if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);
  if (!persisting) { // once per task, not per event: a burst writes the queue once
    persisting = true;
    Promise.resolve().then(persist);
  }
  if (queue.length >= opts.flushAt) flush();
  else if (timer === null && retryTimer === null) {
    timer = root.setTimeout(() => { timer = null; flush(); }, opts.flushIntervalMs);
  }
}

function persist() {
  persisting = false;
  save(K.queue, queue.length ? queue : null);
}

// -- delivery

const eventsUrl = () => `${opts.endpoint}/v1/events`;
const auth = () => ({ Authorization: `Bearer ${opts.writeKey}` });

function flush() {
  if (!started) return Promise.resolve();
  if (timer !== null) { root.clearTimeout(timer); timer = null; }
  if (inflight) return inflight.then(() => (queue.length ? flush() : undefined));
  if (!queue.length) return Promise.resolve();
  inflight = sendAll().finally(() => { inflight = null; });
  return inflight;
}

async function sendAll() {
  while (queue.length) {
    const batch = queue.slice(0, MAX_BATCH);
    if ((await send(batch)) === 'retry') return retryLater();
    // sent, or refused for good: either way it leaves the queue
    const done = new Set(batch.map((e) => e.message_id));
    queue = queue.filter((e) => !done.has(e.message_id));
    persist();
    attempts = 0;
  }
}

async function send(batch) {
  let response;
  try {
    response = await root.fetch(eventsUrl(), { method: 'POST', body: JSON.stringify({ batch }),
      headers: { 'Content-Type': 'application/json', ...auth() } });
  } catch (error) {
    report(error, { kind: 'network', retrying: true });
    return 'retry';
  }
  const body = await response.json().catch(() => null);
  const status = response.status;
  if (response.ok) {
    if (body && body.rejected && body.rejected.length) {
      report(new Error('shopwise: events rejected'), { kind: 'rejected', rejected: body.rejected });
    }
    return 'sent';
  }
  const retrying = status === 429 || status >= 500;
  const error = new Error(`shopwise: HTTP ${status}`);
  if (retrying) {
    const seconds = Number(response.headers && response.headers.get('Retry-After'));
    retryAfterMs = seconds > 0 ? seconds * 1000 : 0;
    report(error, { kind: 'http', status, retrying });
    return 'retry';
  }
  // any other 4xx would fail the same way again: dropped, and the page is told
  report(error, { kind: 'http', status, retrying, error: body && body.error,
    message_ids: batch.map((e) => e.message_id) });
  return 'dropped';
}

function retryLater() {
  attempts += 1;
  if (attempts > MAX_ATTEMPTS || retryTimer !== null) return;
  const delay = Math.max(Math.min(BACKOFF_MAX_MS, BACKOFF_MS * 2 ** (attempts - 1)), retryAfterMs);
  retryAfterMs = 0;
  retryTimer = root.setTimeout(() => { retryTimer = null; flush(); }, delay);
}

function beaconFlush() {
  const nav = root.navigator;
  if (!queue.length || !nav || typeof nav.sendBeacon !== 'function') return;
  const handed = new Set();
  let batch = [];
  let bytes = 0;
  const post = () => {
    // a beacon cannot carry headers: the write key travels in the body (text/plain needs
    // no CORS preflight)
    const body = JSON.stringify({ batch, write_key: opts.writeKey });
    const blob = new root.Blob([body], { type: 'text/plain;charset=UTF-8' });
    if (nav.sendBeacon(eventsUrl(), blob)) batch.forEach((e) => handed.add(e.message_id));
    batch = [];
    bytes = 0;
  };
  for (const event of queue) {
    const size = JSON.stringify(event).length + 1;
    if (batch.length && (bytes + size > BEACON_BYTES || batch.length >= MAX_BATCH)) post();
    batch.push(event);
    bytes += size;
  }
  if (batch.length) post();
  // what the browser refused stays in localStorage for the next page
  queue = queue.filter((e) => !handed.has(e.message_id));
  persist();
}

// -- page views and pings (active seconds, scroll depth)

function scrollDepth() {
  const doc = root.document;
  const el = doc && doc.documentElement;
  const height = el ? Math.max(el.scrollHeight || 0, (doc.body && doc.body.scrollHeight) || 0) : 0;
  if (!height) return 0;
  const seen = (root.scrollY || el.scrollTop || 0) + (root.innerHeight || el.clientHeight || 0);
  return Math.max(0, Math.min(100, Math.round((seen / height) * 100)));
}

function noteActivity() {
  if (!page) return;
  page.lastActivity = Date.now();
  page.depth = Math.max(page.depth, scrollDepth());
}

function startPage() {
  // pings go through track() like any event: held before consent, dropped when refused
  page = { windowStart: Date.now(), active: 0, sent: 0, depth: scrollDepth(), lastActivity: 0 };
  track('page_viewed', {});
  root.setInterval(heartbeat, PING_MS);
}

function heartbeat(final) {
  const now = Date.now();
  const shown = !root.document || root.document.visibilityState !== 'hidden';
  // a window is active time when the shopper did something in it on a visible page
  if (page.lastActivity >= page.windowStart && (shown || final === true)) {
    page.active += Math.round((now - page.windowStart) / 1000);
  }
  page.windowStart = now;
  page.depth = Math.max(page.depth, scrollDepth());
  if (page.active > page.sent) {
    page.sent = page.active;
    track('page_ping', { active_seconds: page.active, scroll_depth: page.depth });
  }
}

function onHide() {
  if (page) heartbeat(true);
  beaconFlush();
}

function listen() {
  const doc = root.document;
  if (doc && doc.addEventListener) {
    doc.addEventListener('visibilitychange', () => {
      if (doc.visibilityState === 'hidden') onHide();
    });
  }
  if (!root.addEventListener) return;
  root.addEventListener('pagehide', onHide);
  root.addEventListener('online', () => { attempts = 0; flush(); });
  for (const name of ACTIVITY) root.addEventListener(name, noteActivity, { passive: true });
}

// -- init, identity

function init(config) {
  if (started) return api;
  const given = config || {};
  if (!given.writeKey) throw new TypeError('shopwise.init: writeKey is required');
  opts = { ...DEFAULTS, ...given };
  opts.endpoint = String(given.endpoint || '').replace(/\/+$/, '');
  opts.flushAt = Math.max(1, Number(opts.flushAt) || DEFAULTS.flushAt);
  opts.flushIntervalMs = Math.max(0, Number(opts.flushIntervalMs ?? DEFAULTS.flushIntervalMs) || 0);
  opts.requireConsent = given.requireConsent !== false;
  opts.autoPage = given.autoPage !== false;
  started = true;
  const stored = load(K.consent);
  if (stored && typeof stored === 'object') { choices = stored; decided = true; }
  for (const p of PURPOSES) { // the shop's own consent manager may know the choice already
    if (given.consent && typeof given.consent[p] === 'boolean') {
      choices[p] = given.consent[p];
      decided = true;
    }
  }
  anonymousId();
  const saved = load(K.queue);
  queue = Array.isArray(saved) ? saved.slice(-MAX_QUEUE) : [];
  listen();
  if (opts.autoPage) startPage();
  if (queue.length) flush();
  return api;
}

function identify(id, extra) {
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new TypeError('identify: userId must be a string');
  }
  const given = extra || {};
  save(K.uid, String(id));
  save(K.hash, typeof given.userHash === 'string' ? given.userHash : null);
  return track('identify', { traits: { ...given.traits } });
}

function reset() {
  save(K.uid, null);
  save(K.hash, null);
  const id = uuid();
  writeCookie(id);
  save(K.aid, id);
  return id;
}

const needing = (type, ...fields) => (properties) => {
  for (const f of fields) {
    if (!properties || properties[f] === undefined) {
      throw new TypeError(`${type}: ${f} is required`);
    }
  }
  return track(type, properties);
};

// -- rendering

function answerUrl(placement, o) {
  const q = new URLSearchParams();
  if (LISTS.includes(placement)) {
    if (!o.productId) throw new TypeError(`render: '${placement}' needs options.productId`);
    if (o.n) q.set('n', String(o.n));
    return `${opts.endpoint}/v1/products/${encodeURIComponent(o.productId)}/${placement}?${q}`;
  }
  q.set('placement', placement);
  if (o.n) q.set('n', String(o.n));
  q.set('anonymous_id', anonymousId());
  if (userId() && load(K.hash)) { // a write key may name a user only with its hash
    q.set('user_id', userId());
    q.set('user_hash', load(K.hash));
  }
  if (o.productId) q.set('product_id', String(o.productId));
  if (o.category) q.set('category', String(o.category));
  if (o.query) q.set('query', String(o.query));
  for (const id of o.cart || []) q.append('cart', String(id));
  if (SLOTS.includes(placement)) return `${opts.endpoint}/v1/recommendations?${q}`;
  const landing = search(); // content may target the landing
  for (const f of ['utm_source', 'utm_medium', 'utm_campaign']) {
    if (landing.get(f)) q.set(f, landing.get(f).slice(0, 200));
  }
  const referrer = text(root.document && root.document.referrer);
  if (referrer) q.set('referrer', referrer);
  return `${opts.endpoint}/v1/decide?${q}`;
}

async function getJson(url) {
  const response = await root.fetch(url, { headers: auth() });
  const body = await response.json().catch(() => null);
  if (response.ok) return body;
  const message = (body && body.error && body.error.message) || `HTTP ${response.status}`;
  const error = new Error(`shopwise: ${message}`);
  error.status = response.status;
  throw error;
}

async function cards(ids) {
  // answers name products by id; the catalog's public fields come from /sdk/products
  if (!ids.length) return {};
  const q = new URLSearchParams(ids.map((id) => ['ids', id]));
  try {
    const body = await getJson(`${opts.endpoint}/sdk/products?${q}`);
    return Object.fromEntries(((body && body.products) || []).map((c) => [c.product_id, c]));
  } catch (error) {
    report(error, { kind: 'render' });
    return {}; // the slot still shows the products, by id
  }
}

function el(tag, className, content) {
  const node = root.document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined && content !== null) node.textContent = String(content);
  return node;
}

function price(item) {
  const amount = typeof item.sale_price === 'number' ? item.sale_price : item.price;
  if (typeof amount !== 'number') return null;
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: item.currency || 'EUR' })
      .format(amount);
  } catch (_e) {
    return amount.toFixed(2);
  }
}

function productNode(item, o) {
  if (typeof o.template === 'function') return o.template(item);
  const link = el('a', 'shopwise-item');
  const href = item.url || (typeof o.productUrl === 'function' && o.productUrl(item)) || '#';
  link.setAttribute('href', href);
  if (item.image_url) {
    const image = el('img', 'shopwise-image');
    image.setAttribute('src', item.image_url);
    image.setAttribute('alt', item.title || '');
    image.setAttribute('loading', 'lazy');
    link.appendChild(image);
  }
  link.appendChild(el('span', 'shopwise-title', item.title || item.product_id));
  if (price(item)) link.appendChild(el('span', 'shopwise-price', price(item)));
  return link;
}

function blockNode(block, cls, answer, placement) {
  const c = block.content || {};
  const node = el('div', cls);
  node.setAttribute('data-block', block.name);
  const headline = c.headline || c.title;
  if (headline) node.appendChild(el('strong', `${cls}-headline`, headline));
  if (c.body) node.appendChild(el('p', `${cls}-body`, c.body));
  if (c.code) node.appendChild(el('code', `${cls}-code`, c.code));
  if (c.cta_url) {
    const cta = node.appendChild(el('a', `${cls}-cta`, c.cta || c.cta_text || 'Shop now'));
    cta.setAttribute('href', c.cta_url);
  }
  node.addEventListener('click', () => track('promotion_clicked', { promotion_id: block.name,
    name: block.name, position: placement, recommendation_id: answer.recommendation_id }));
  return node;
}

function reasonOf(answer) {
  if (answer.fallback) return String(answer.fallback);
  if (answer.personalized) return 'personalized';
  const first = (answer.items || [])[0];
  return (first && first.reasons && first.reasons[0]) || 'none';
}

async function render(placement, element, options) {
  if (!started) throw new Error('shopwise.init() must be called first');
  const o = options || {};
  try {
    const answer = await getJson(answerUrl(placement, o));
    const items = answer.items || [];
    const found = await cards(items.map((item) => item.product_id));
    while (element.firstChild) element.removeChild(element.firstChild);
    for (const kind of ['banner', 'message']) {
      const block = answer[kind];
      if (block) element.appendChild(blockNode(block, `shopwise-${kind}`, answer, placement));
    }
    const box = el('div', 'shopwise-items');
    box.setAttribute('data-recommendation-id', answer.recommendation_id || '');
    items.forEach((item, position) => {
      const node = box.appendChild(productNode({ ...found[item.product_id], ...item }, o));
      node.setAttribute('data-product-id', item.product_id);
      node.setAttribute('data-position', String(position));
    });
    box.addEventListener('click', (event) => {
      let node = event.target;
      while (node && node !== box && !node.getAttribute('data-product-id')) node = node.parentNode;
      if (!node || node === box) return;
      recommendationClicked({ recommendation_id: answer.recommendation_id, placement,
        product_id: node.getAttribute('data-product-id'),
        position: Number(node.getAttribute('data-position')) });
    });
    element.appendChild(box);
    element.setAttribute('data-shopwise-rendered', 'true');
    element.setAttribute('data-shopwise-reason', reasonOf(answer));
    return answer;
  } catch (error) {
    element.setAttribute('data-shopwise-rendered', 'error');
    report(error, { kind: 'render', placement });
    throw error;
  }
}

function renderAll(scope) {
  const slots = Array.from((scope || root.document).querySelectorAll('[data-shopwise-placement]'));
  return Promise.allSettled(slots.map((slot) => {
    const o = {};
    const attr = (name) => slot.getAttribute(`data-shopwise-${name}`);
    if (attr('product')) o.productId = attr('product');
    if (attr('n')) o.n = Number(attr('n'));
    return render(attr('placement'), slot, o);
  }));
}

const recommendationClicked = needing('recommendation_clicked', 'recommendation_id', 'product_id');

const api = {
  VERSION,
  init,
  consent: {
    set: (given) => {
      if (!started) throw new Error('shopwise.init() must be called first');
      return setConsent(given || {});
    },
    get: current,
  },
  anonymousId,
  userId,
  page: (properties) => track('page_viewed', properties),
  track,
  productViewed: needing('product_viewed', 'product_id'),
  productAdded: needing('product_added', 'product_id'),
  productRemoved: needing('product_removed', 'product_id'),
  cartViewed: (properties) => track('cart_viewed', properties),
  checkoutStarted: (properties) => track('checkout_started', properties),
  orderCompleted: needing('order_completed', 'order_id'),
  searched: needing('products_searched', 'query'),
  identify,
  reset,
  flush,
  recommendationClicked,
  render,
  renderAll,
};

root.shopwise = api;
})(globalThis);
