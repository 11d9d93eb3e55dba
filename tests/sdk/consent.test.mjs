// Consent in the JS SDK: nothing opt-in leaves the page before the shopper decides, a refusal
// drops what waited, Global Privacy Control opts out of sale.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ENDPOINT, KEY, loadPage, offline, plain } from './fakes.mjs';

const base = { writeKey: KEY, endpoint: ENDPOINT, flushAt: 1 };

test('before consent nothing is sent or stored; consent sends what waited, with the choice', async () => {
  const page = loadPage();
  page.sw.init(base);
  page.sw.productViewed({ product_id: 'p1' });
  page.sw.identify('u1', { userHash: 'h1' });
  await page.timers.advance(60000);
  assert.equal(page.calls.length, 0);
  assert.equal(page.storage.getItem('shopwise_queue'), null, 'held in memory only');
  page.document.visibilityState = 'hidden';
  page.document.dispatch('visibilitychange');
  assert.equal(page.beacons.length, 0, 'no beacon either');
  page.document.visibilityState = 'visible';
  assert.deepEqual(plain(page.sw.consent.get()), {
    analytics: false,
    personalization: false,
    marketing: false,
    advertising: false,
  });

  await page.sw.consent.set({ analytics: true, personalization: true, marketing: false });
  await page.timers.advance(0);
  const sent = page.sent();
  assert.deepEqual(
    sent.map((e) => e.type),
    ['consent_updated', 'page_viewed', 'product_viewed', 'identify'],
  );
  const [consent] = sent;
  assert.deepEqual(plain(consent.context.consent.purposes), {
    analytics: true,
    personalization: true,
    marketing: false,
    advertising: false,
  });
  assert.equal(consent.context.consent.source, 'sdk');
  assert.ok(sent.every((e) => e.context.consent.purposes.analytics === true));
  assert.equal(page.storage.json('shopwise_consent').analytics, true, 'remembered');

  const next = loadPage({ storage: page.storage, jar: page.jar });
  next.sw.init(base);
  await next.timers.advance(0);
  assert.deepEqual(next.sent().map((e) => e.type), ['page_viewed'], 'the next page tracks at once');
});

test('a refusal drops the events that waited and every later one', async () => {
  const page = loadPage();
  page.sw.init(base);
  page.sw.productViewed({ product_id: 'p1' });
  await page.sw.consent.set({ analytics: false, personalization: false });
  page.sw.productViewed({ product_id: 'p2' });
  page.sw.orderCompleted({ order_id: 'o1', revenue: 5, currency: 'EUR', products: [] });
  await page.timers.advance(60000);
  const sent = page.sent();
  assert.deepEqual(sent.map((e) => e.type), ['consent_updated'], 'only the refusal is recorded');
  assert.equal(sent[0].context.consent.purposes.analytics, false);
  assert.equal(page.storage.getItem('shopwise_queue'), null);
});

test('a withdrawal drops the queued events the network had not taken yet', async () => {
  let up = false;
  const page = loadPage({
    respond: () => (up ? { status: 200, body: { accepted: 1 } } : offline()),
  });
  page.sw.init({ ...base, requireConsent: false, autoPage: false });
  page.sw.productViewed({ product_id: 'p1' });
  page.sw.productViewed({ product_id: 'p2' });
  await page.timers.advance(0);
  assert.equal(page.storage.json('shopwise_queue').length, 2);
  up = true;
  await page.sw.consent.set({ analytics: false, personalization: false });
  await page.timers.advance(0);
  assert.deepEqual(page.sent().map((e) => e.type), ['consent_updated']);
  assert.equal(page.storage.getItem('shopwise_queue'), null);
});

test('without requireConsent analytics and personalization are on, marketing stays opt-in', async () => {
  const page = loadPage();
  page.sw.init({ ...base, requireConsent: false });
  assert.deepEqual(plain(page.sw.consent.get()), {
    analytics: true,
    personalization: true,
    marketing: false,
    advertising: false,
  });
  await page.timers.advance(0);
  assert.deepEqual(page.sent().map((e) => e.type), ['page_viewed']);
});

test('Global Privacy Control opts out of sale and advertising; marketing only when chosen', async () => {
  const page = loadPage({ gpc: true });
  page.sw.init({ ...base, requireConsent: false, consent: { advertising: true } });
  const choices = page.sw.consent.get();
  assert.equal(choices.advertising, false, 'GPC wins over a stored advertising grant');
  assert.equal(choices.marketing, false);
  assert.equal(choices.analytics, true);
  await page.timers.advance(0);
  const [view] = page.sent();
  assert.equal(view.context.consent.do_not_sell, true);
  assert.equal(view.context.consent.purposes.advertising, false);

  await page.sw.consent.set({ marketing: true, advertising: true });
  assert.equal(page.sw.consent.get().marketing, true, 'an explicit marketing choice holds');
  assert.equal(page.sw.consent.get().advertising, false);
  const consent = page.sent().find((e) => e.type === 'consent_updated');
  assert.equal(consent.context.consent.do_not_sell, true);
  assert.equal(consent.context.consent.purposes.advertising, false);
});

test('initial choices given to init count as the decision', async () => {
  const page = loadPage();
  page.sw.init({ ...base, consent: { analytics: true, personalization: false } });
  page.sw.productViewed({ product_id: 'p1' });
  await page.timers.advance(0);
  assert.deepEqual(page.sent().map((e) => e.type), ['page_viewed', 'product_viewed']);
  assert.equal(page.sent()[1].context.consent.purposes.personalization, false);
});
