// render() and renderAll(): the shopper's ids and the landing go to /v1/decide or the product
// lists, the answer becomes markup pages can style, and clicks name the recommendation.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ENDPOINT, FakeElement, KEY, accepted, loadPage, plain } from './fakes.mjs';

const RID = '0190aabbccdd00112233445566778899';

function server(url) {
  const { pathname, searchParams } = new URL(url);
  if (pathname === '/sdk/products') {
    const cards = {
      p1: { product_id: 'p1', title: 'Red shoe', price: 40, sale_price: 30, currency: 'EUR',
        image_url: 'https://img.example/p1.jpg', url: 'https://shop.example/p/p1' },
      p2: { product_id: 'p2', title: 'Blue shoe', price: 50, currency: 'EUR', image_url: null,
        url: null },
    };
    return { body: { products: searchParams.getAll('ids').map((id) => cards[id]).filter(Boolean) } };
  }
  if (pathname === '/v1/decide' || pathname === '/v1/recommendations' || pathname.endsWith('/similar')) {
    return {
      body: {
        recommendation_id: RID,
        placement: searchParams.get('placement') || 'similar',
        items: [
          { product_id: 'p1', score: 0.9, reasons: ['personalized'] },
          { product_id: 'p2', score: 0.5, reasons: ['popular'] },
        ],
        fallback: null,
        personalized: true,
        banner: pathname === '/v1/decide'
          ? { name: 'welcome', kind: 'banner', content: { title: 'Welcome!', body: 'Free shipping', cta_url: '/sale' }, reasons: ['rule'] }
          : undefined,
        message: null,
      },
    };
  }
  return accepted();
}

function page(opts = {}) {
  const loaded = loadPage({ respond: server, search: '?utm_source=news&utm_campaign=spring', ...opts });
  loaded.sw.init({ writeKey: KEY, endpoint: ENDPOINT, requireConsent: false, autoPage: false, flushAt: 1 });
  return loaded;
}

test('render asks /v1/decide with the ids and the landing, and renders products and banner', async () => {
  const p = page();
  p.sw.identify('u1', { userHash: 'h1' });
  const slot = new FakeElement('div');
  const answer = await p.sw.render('home', slot, { n: 2, productUrl: (item) => `/p/${item.product_id}` });
  assert.equal(answer.recommendation_id, RID);
  const decide = p.calls.find((c) => c.url.includes('/v1/decide'));
  const query = new URL(decide.url).searchParams;
  assert.equal(query.get('placement'), 'home');
  assert.equal(query.get('n'), '2');
  assert.equal(query.get('anonymous_id'), p.sw.anonymousId());
  assert.equal(query.get('user_id'), 'u1');
  assert.equal(query.get('user_hash'), 'h1');
  assert.equal(query.get('utm_source'), 'news');
  assert.equal(query.get('utm_campaign'), 'spring');
  assert.equal(query.get('referrer'), 'https://search.example/?q=shoes');
  assert.equal(decide.init.headers.Authorization, `Bearer ${KEY}`);

  assert.equal(slot.getAttribute('data-shopwise-rendered'), 'true');
  assert.equal(slot.getAttribute('data-shopwise-reason'), 'personalized');
  const banner = slot.querySelector('.shopwise-banner');
  assert.equal(banner.querySelector('.shopwise-banner-headline').textContent, 'Welcome!');
  assert.equal(banner.querySelector('.shopwise-banner-cta').getAttribute('href'), '/sale');
  const container = slot.querySelector('.shopwise-items');
  assert.equal(container.getAttribute('data-recommendation-id'), RID);
  const items = slot.querySelectorAll('.shopwise-item');
  assert.deepEqual(plain(items.map((a) => a.getAttribute('data-product-id'))), ['p1', 'p2']);
  assert.deepEqual(
    plain(items.map((a) => a.getAttribute('href'))),
    ['https://shop.example/p/p1', '/p/p2'],
    "the catalog's url first, then productUrl",
  );
  assert.equal(items[0].querySelector('.shopwise-title').textContent, 'Red shoe');
  assert.match(items[0].querySelector('.shopwise-price').textContent, /30/);
  assert.equal(items[0].querySelector('.shopwise-image').getAttribute('src'), 'https://img.example/p1.jpg');
  assert.equal(items[1].querySelector('.shopwise-image'), null, 'no image, no img');
});

test('a click on a rendered product tracks recommendation_clicked with its id', async () => {
  const p = page();
  const slot = new FakeElement('div');
  await p.sw.render('home', slot);
  slot.querySelectorAll('.shopwise-item')[1].querySelector('.shopwise-title').click();
  await p.timers.advance(0);
  const click = p.sent().find((e) => e.type === 'recommendation_clicked');
  assert.deepEqual(plain(click.properties), {
    recommendation_id: RID,
    product_id: 'p2',
    placement: 'home',
    position: 1,
  });
});

test('product slots ask /v1/recommendations; similar asks the product list', async () => {
  const p = page();
  const slot = new FakeElement('div');
  await p.sw.render('product', slot, { productId: 'p9' });
  const rec = new URL(p.calls.find((c) => c.url.includes('/v1/recommendations')).url);
  assert.equal(rec.searchParams.get('product_id'), 'p9');
  assert.equal(rec.searchParams.get('utm_source'), null, 'only /v1/decide reads the landing');

  const root = new FakeElement('main');
  const similar = root.appendChild(new FakeElement('section'));
  similar.setAttribute('data-shopwise-placement', 'similar');
  similar.setAttribute('data-shopwise-product', 'p 9');
  similar.setAttribute('data-shopwise-n', '4');
  await p.sw.renderAll(root);
  const list = p.calls.find((c) => c.url.includes('/similar'));
  assert.equal(list.url, 'https://api.shop.example/v1/products/p%209/similar?n=4');
  assert.equal(similar.getAttribute('data-shopwise-rendered'), 'true');
  assert.equal(similar.querySelectorAll('.shopwise-item').length, 2);
});

test('a refused answer marks the slot and rejects; a template renders the items', async () => {
  const p = page({
    respond: (url) =>
      url.includes('/v1/decide')
        ? { status: 403, body: { error: { code: 'forbidden', message: 'user_id: needs user_hash' } } }
        : server(url),
  });
  const errors = [];
  const slot = new FakeElement('div');
  await assert.rejects(p.sw.render('home', slot), /user_id: needs user_hash/);
  assert.equal(slot.getAttribute('data-shopwise-rendered'), 'error');

  const custom = new FakeElement('div');
  await p.sw.render('cart', custom, {
    template: (item) => {
      const node = new FakeElement('li');
      node.className = 'my-card';
      node.textContent = `${item.title} ${item.score}`;
      return node;
    },
  });
  const cards = custom.querySelectorAll('.my-card');
  assert.deepEqual(plain(cards.map((c) => c.textContent)), ['Red shoe 0.9', 'Blue shoe 0.5']);
  assert.equal(cards[0].getAttribute('data-product-id'), 'p1');
  assert.equal(errors.length, 0);
});
