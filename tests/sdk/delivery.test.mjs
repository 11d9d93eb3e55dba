// Delivery: batching, retries with the same message_id, the offline queue and the page-hide
// beacon of the JS SDK (src/shopwise/api/assets/shopwise.js).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ENDPOINT, KEY, accepted, loadPage, offline, plain } from './fakes.mjs';

const base = { writeKey: KEY, endpoint: ENDPOINT, requireConsent: false, autoPage: false };

test('a batch goes out when flushAt events are queued, with the write key', async () => {
  const page = loadPage();
  page.sw.init({ ...base, flushAt: 3, flushIntervalMs: 60000 });
  page.sw.track('product_viewed', { product_id: 'p1' });
  page.sw.track('product_viewed', { product_id: 'p2' });
  await page.timers.advance(0);
  assert.equal(page.calls.length, 0);
  page.sw.productAdded({ product_id: 'p2', quantity: 1, price: 9.5 });
  await page.timers.advance(0);
  assert.equal(page.calls.length, 1);
  const [call] = page.calls;
  assert.equal(call.url, 'https://api.shop.example/v1/events');
  assert.equal(call.init.method, 'POST');
  assert.equal(call.init.headers.Authorization, `Bearer ${KEY}`);
  assert.deepEqual(
    call.body.batch.map((e) => [e.type, e.properties.product_id]),
    [['product_viewed', 'p1'], ['product_viewed', 'p2'], ['product_added', 'p2']],
  );
  const event = call.body.batch[0];
  assert.match(event.message_id, /^[0-9a-f-]{32,36}$/);
  assert.equal(event.anonymous_id, page.sw.anonymousId());
  assert.equal(event.timestamp, '2026-03-01T12:00:00.000Z');
  assert.equal(event.context.page.url, 'https://shop.example/shoes');
  assert.equal(event.context.library.name, 'shopwise.js');
  assert.equal(page.storage.getItem('shopwise_queue'), null, 'sent events leave the queue');
});

test('fewer than flushAt events go out after flushIntervalMs', async () => {
  const page = loadPage();
  page.sw.init({ ...base, flushAt: 20, flushIntervalMs: 1000 });
  page.sw.searched({ query: 'red shoes' });
  await page.timers.advance(999);
  assert.equal(page.calls.length, 0);
  await page.timers.advance(1);
  assert.deepEqual(page.sent().map((e) => e.type), ['products_searched']);
});

test('a failed batch is retried with exponential backoff and the same message ids', async () => {
  let failures = 3;
  const page = loadPage({
    respond: () => {
      if (failures-- === 3) offline(); // first a network error, then two 503s
      return failures >= 0 ? { status: 503 } : accepted();
    },
  });
  const errors = [];
  page.sw.init({ ...base, flushIntervalMs: 50, onError: (error, detail) => errors.push(detail) });
  page.sw.track('product_viewed', { product_id: 'p1' });
  page.sw.track('cart_viewed', { products: [] });
  await page.sw.flush();
  await page.timers.advance(1000 + 2000 + 4000);
  assert.equal(page.calls.length, 4);
  const ids = page.calls.map((c) => c.body.batch.map((e) => e.message_id).join());
  assert.equal(new Set(ids).size, 1, 'every try carries the same message ids');
  const delays = page.timers.scheduled.filter((ms) => ms >= 1000);
  assert.deepEqual(plain(delays), [1000, 2000, 4000]);
  assert.deepEqual(
    plain(errors.map((e) => [e.kind, e.status ?? null, e.retrying])),
    [['network', null, true], ['http', 503, true], ['http', 503, true]],
  );
  assert.equal(page.storage.getItem('shopwise_queue'), null);
});

test("a 429's Retry-After is waited for when it is longer than the backoff", async () => {
  let first = true;
  const page = loadPage({
    respond: () => {
      if (!first) return accepted();
      first = false;
      return { status: 429, headers: { 'Retry-After': '30' } };
    },
  });
  page.sw.init(base);
  page.sw.track('product_viewed', { product_id: 'p1' });
  await page.sw.flush();
  await page.timers.advance(29999);
  assert.equal(page.calls.length, 1);
  await page.timers.advance(1);
  assert.equal(page.calls.length, 2);
});

test('a 400 is not retried: the batch is dropped and onError told', async () => {
  const page = loadPage({
    respond: () => ({
      status: 400,
      body: { error: { code: 'invalid_batch', message: 'batch: must be an array' } },
    }),
  });
  const errors = [];
  page.sw.init({ ...base, onError: (error, detail) => errors.push(detail) });
  const id = page.sw.track('product_viewed', { product_id: 'p1' });
  await page.sw.flush();
  await page.timers.advance(120000);
  assert.equal(page.calls.length, 1);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].status, 400);
  assert.equal(errors[0].retrying, false);
  assert.equal(errors[0].error.code, 'invalid_batch');
  assert.deepEqual(plain(errors[0].message_ids), [id]);
  assert.equal(page.storage.getItem('shopwise_queue'), null);
});

test('events wait in localStorage while offline and go out on the next load', async () => {
  const first = loadPage({ respond: offline });
  first.sw.init(base);
  const id = first.sw.productViewed({ product_id: 'p1' });
  await first.sw.flush();
  await first.timers.advance(10000);
  assert.ok(first.calls.length >= 2, 'retried while offline');
  const kept = first.storage.json('shopwise_queue');
  assert.deepEqual(kept.map((e) => e.message_id), [id]);

  const next = loadPage({ storage: first.storage, jar: first.jar });
  next.sw.init(base);
  await next.timers.advance(0);
  assert.deepEqual(next.sent().map((e) => e.message_id), [id]);
  assert.equal(next.storage.getItem('shopwise_queue'), null);
});

test("the 'online' event sends what waited", async () => {
  let up = false;
  const page = loadPage({ respond: () => (up ? accepted() : offline()) });
  page.sw.init(base);
  page.sw.productViewed({ product_id: 'p1' });
  await page.sw.flush();
  up = true;
  page.window.dispatch('online');
  await page.timers.advance(0);
  assert.equal(page.sent().length, 1);
  assert.equal(page.storage.getItem('shopwise_queue'), null);
});

test('the offline queue is bounded, dropping the oldest events', async () => {
  const page = loadPage({ respond: offline });
  page.sw.init({ ...base, flushAt: 5000, flushIntervalMs: 3600000 });
  const ids = [];
  for (let i = 0; i < 1005; i += 1) ids.push(page.sw.productViewed({ product_id: `p${i}` }));
  await page.timers.advance(0);
  const kept = page.storage.json('shopwise_queue');
  assert.equal(kept.length, 1000);
  assert.equal(kept[0].message_id, ids[5]);
});

test('a hidden page hands its queue to sendBeacon, the key in the body', async () => {
  const page = loadPage();
  page.sw.init({ ...base, flushAt: 50, flushIntervalMs: 60000 });
  const ids = [page.sw.productViewed({ product_id: 'p1' }), page.sw.track('checkout_started', {})];
  page.document.visibilityState = 'hidden';
  page.document.dispatch('visibilitychange');
  assert.equal(page.beacons.length, 1);
  const [beacon] = page.beacons;
  assert.equal(beacon.url, 'https://api.shop.example/v1/events');
  assert.equal(beacon.blob.type, 'text/plain;charset=utf-8');
  const body = JSON.parse(await beacon.blob.text());
  assert.equal(body.write_key, KEY);
  assert.deepEqual(body.batch.map((e) => e.message_id), ids);
  assert.equal(page.storage.getItem('shopwise_queue'), null);
  await page.timers.advance(60000);
  assert.equal(page.calls.length, 0, 'what a beacon took is not sent again');
});

test('pagehide beacons too; a refused beacon keeps the events for the next page', async () => {
  const page = loadPage({ beacon: false });
  page.sw.init({ ...base, flushAt: 50, flushIntervalMs: 60000 });
  const id = page.sw.productViewed({ product_id: 'p1' });
  page.window.dispatch('pagehide');
  assert.equal(page.beacons.length, 1);
  assert.deepEqual(page.storage.json('shopwise_queue').map((e) => e.message_id), [id]);
});

test('page_viewed on init, then pings with active seconds and scroll depth', async () => {
  const page = loadPage();
  page.sw.init({ ...base, autoPage: true, flushAt: 1 });
  await page.timers.advance(0);
  assert.deepEqual(page.sent().map((e) => e.type), ['page_viewed']);
  await page.timers.advance(10000); // no activity: no ping
  assert.equal(page.sent().length, 1);
  page.sandbox.scrollY = 2000; // sees 3000 of 4000 px
  page.window.dispatch('scroll');
  await page.timers.advance(10000);
  const pings = page.sent().filter((e) => e.type === 'page_ping');
  assert.equal(pings.length, 1);
  assert.deepEqual({ ...pings[0].properties }, { active_seconds: 10, scroll_depth: 75 });
  await page.timers.advance(4000);
  page.window.dispatch('keydown');
  page.document.visibilityState = 'hidden';
  page.document.dispatch('visibilitychange');
  const last = JSON.parse(await page.beacons[0].blob.text()).batch.at(-1);
  assert.equal(last.type, 'page_ping');
  assert.equal(last.properties.active_seconds, 14);
});

test('identify carries the user hash on later events; reset forgets the user', async () => {
  const page = loadPage();
  page.sw.init({ ...base, flushAt: 1 });
  const before = page.sw.anonymousId();
  page.sw.identify('u-42', { userHash: 'ab12', traits: { plan: 'gold' } });
  page.sw.productViewed({ product_id: 'p1' });
  assert.equal(page.sw.userId(), 'u-42');
  page.sw.reset();
  assert.equal(page.sw.userId(), null);
  const after = page.sw.anonymousId();
  assert.notEqual(after, before);
  assert.ok(page.jar.cookie.includes(`shopwise_aid=${after}`));
  page.sw.productViewed({ product_id: 'p2' });
  await page.timers.advance(0);
  const [identify, viewed, anonymous] = page.sent();
  assert.equal(identify.type, 'identify');
  assert.equal(identify.user_id, 'u-42');
  assert.equal(identify.user_hash, 'ab12');
  assert.equal(identify.anonymous_id, before);
  assert.deepEqual({ ...identify.properties.traits }, { plan: 'gold' });
  assert.equal(viewed.user_id, 'u-42');
  assert.equal(viewed.user_hash, 'ab12');
  assert.equal(anonymous.user_id, undefined);
  assert.equal(anonymous.user_hash, undefined);
  assert.equal(anonymous.anonymous_id, after);
});

test('the anonymous id is a first-party cookie for a year, mirrored in localStorage', () => {
  const page = loadPage();
  page.sw.init(base);
  const id = page.sw.anonymousId();
  const line = page.jar.written.at(-1);
  assert.match(line, new RegExp(`^shopwise_aid=${id}; Max-Age=31536000; Path=/; SameSite=Lax; Secure$`));
  assert.equal(page.storage.json('shopwise_aid'), id);
  const next = loadPage({ jar: page.jar });
  next.sw.init(base);
  assert.equal(next.sw.anonymousId(), id, 'the cookie survives');
  const restored = loadPage({ storage: page.storage });
  restored.sw.init(base);
  assert.equal(restored.sw.anonymousId(), id, 'a cleared cookie comes back from storage');
});
