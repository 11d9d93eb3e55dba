/*
 * The demo storefront's page script: what a shop's own front-end code does with the shopwise SDK.
 *
 * It starts the SDK with the key and endpoint the server put in #shopwise-config, shows the
 * consent banner until the shopper chooses, renders the page's placement slots with the shop's
 * own card markup (the slots that send the shopper's anonymous id only once the shopper has
 * chosen: before that no identifier leaves the page, not even to be served popular products), tracks product views, cart changes and orders, keeps the cart in localStorage,
 * reorders a category's products by the shopper's recommendations (/v1/recommendations with the
 * category) and logs in with shopwise.identify and the user_hash the shop's backend computed.
 */
(function () {
  'use strict';

  const config = JSON.parse(document.getElementById('shopwise-config').textContent);
  const base = config.base;
  const sdk = window.shopwise;
  const CART = 'shopwise_demo_cart';
  const CHOICE = 'shopwise_demo_consent';
  const ALL_PURPOSES = ['analytics', 'personalization', 'marketing'];
  const ANONYMOUS_SLOTS = ['similar', 'complementary']; // asked by product id alone
  let categoryAnswer = null; // the answer the category grid is ordered by

  function stored(key, fallback) {
    try {
      const value = JSON.parse(localStorage.getItem(key));
      return value === null ? fallback : value;
    } catch (_e) {
      return fallback;
    }
  }

  function store(key, value) {
    localStorage.setItem(key, JSON.stringify(value));
  }

  function $(selector, scope) {
    return (scope || document).querySelector(selector);
  }

  function $$(selector, scope) {
    return Array.from((scope || document).querySelectorAll(selector));
  }

  function node(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = String(text);
    return el;
  }

  function money(amount, currency) {
    if (typeof amount !== 'number') return '';
    return `${amount.toFixed(2)} ${currency || 'EUR'}`;
  }

  function productUrl(item) {
    return `${base}/products/${encodeURIComponent(item.product_id)}`;
  }

  // -- the cart (this browser only) ----------------------------------------------------------

  function cart() {
    const lines = stored(CART, []);
    return Array.isArray(lines) ? lines : [];
  }

  function saveCart(lines) {
    store(CART, lines);
    showCartCount();
  }

  function cartIds() {
    return cart().map((line) => line.product_id);
  }

  function showCartCount() {
    const count = cart().reduce((sum, line) => sum + line.quantity, 0);
    $$('[data-cart-count]').forEach((el) => {
      el.textContent = String(count);
    });
  }

  function addToCart(product) {
    const lines = cart();
    const line = lines.find((l) => l.product_id === product.product_id);
    if (line) line.quantity += 1;
    else lines.push(Object.assign({ quantity: 1 }, product));
    saveCart(lines);
    sdk.productAdded({ product_id: product.product_id, quantity: 1, price: product.price });
  }

  // -- slots ---------------------------------------------------------------------------------

  function card(item) {
    // the shop's own card markup, as the server renders its cards (see templates/_card.html)
    const link = node('a', 'shopwise-item card');
    link.setAttribute('href', productUrl(item));
    const path = Array.isArray(item.category)
      ? item.category
      : String(item.category || '').split(' > ').filter(Boolean);
    const thumb = node('span', 'thumb', path.length ? path[path.length - 1] : '');
    thumb.setAttribute('data-dept', path[0] || '');
    link.appendChild(thumb);
    link.appendChild(node('span', 'title', item.title || item.product_id));
    const amount = typeof item.sale_price === 'number' ? item.sale_price : item.price;
    if (typeof amount === 'number') link.appendChild(node('span', 'price', money(amount, item.currency)));
    return link;
  }

  function localLinks(slot) {
    // content blocks link to the shop's paths ("/cart"); this shop lives under its base path
    $$('a[href^="/"]', slot).forEach((link) => {
      const href = link.getAttribute('href');
      if (!href.startsWith(`${base}/`) && href !== base) link.setAttribute('href', base + href);
    });
  }

  function renderSlot(slot) {
    const placement = slot.getAttribute('data-shopwise-placement');
    const options = { template: card, productUrl };
    const n = slot.getAttribute('data-shopwise-n');
    const productId = slot.getAttribute('data-shopwise-product');
    if (n) options.n = Number(n);
    if (productId) options.productId = productId;
    if (placement === 'cart' || placement === 'home') options.cart = cartIds();
    return sdk.render(placement, slot, options).then(
      (answer) => {
        localLinks(slot);
        const announcements = $('[data-announcements]');
        if (announcements && placement === 'home') {
          announcements.replaceChildren(...$$('.shopwise-banner, .shopwise-message', slot));
        }
        return answer;
      },
      () => null, // the slot is marked data-shopwise-rendered="error" by the SDK
    );
  }

  function renderSlots() {
    const decided = Boolean(stored(CHOICE, null));
    const slots = $$('[data-shopwise-placement]').filter(
      (slot) => decided || ANONYMOUS_SLOTS.includes(slot.getAttribute('data-shopwise-placement')),
    );
    return Promise.all(slots.map(renderSlot));
  }

  // -- category: the shopper's order ---------------------------------------------------------

  async function personalizeCategory() {
    const grid = $('[data-category-grid]');
    if (!grid || !stored(CHOICE, null)) return;
    const params = new URLSearchParams({
      placement: 'category',
      category: grid.getAttribute('data-category'),
      n: '100',
    });
    if (sdk.consent.get().personalization) params.set('anonymous_id', sdk.anonymousId());
    const response = await fetch(`${config.endpoint}/v1/recommendations?${params}`, {
      headers: { Authorization: `Bearer ${config.writeKey}` },
    });
    if (!response.ok) return;
    const answer = await response.json();
    const cards = new Map($$('[data-product-id]', grid).map((el) => [el.getAttribute('data-product-id'), el]));
    const ranked = answer.items.map((item) => cards.get(item.product_id)).filter(Boolean);
    const rest = Array.from(cards.values()).filter((el) => !ranked.includes(el));
    ranked.forEach((el, position) => el.setAttribute('data-position', String(position)));
    grid.replaceChildren(...ranked, ...rest);
    grid.setAttribute('data-recommendation-id', answer.recommendation_id);
    grid.setAttribute('data-personalized', String(Boolean(answer.personalized)));
    $('[data-ordering]').textContent = answer.personalized
      ? `${cards.size} products, picked for you first`
      : `${cards.size} products, most popular first`;
    categoryAnswer = answer;
  }

  function categoryClicked(event) {
    const el = event.target.closest('[data-position]');
    if (!el || !categoryAnswer) return;
    sdk.recommendationClicked({
      recommendation_id: categoryAnswer.recommendation_id,
      product_id: el.getAttribute('data-product-id'),
      placement: 'category',
      position: Number(el.getAttribute('data-position')),
    });
  }

  // -- pages ---------------------------------------------------------------------------------

  function productPage() {
    const article = $('article.product');
    const product = {
      product_id: article.getAttribute('data-product-id'),
      title: article.getAttribute('data-title'),
      price: Number(article.getAttribute('data-price')),
      currency: article.getAttribute('data-currency'),
      category: article.getAttribute('data-category') || undefined,
      brand: article.getAttribute('data-brand') || undefined,
    };
    sdk.productViewed(product);
    const button = $('[data-add-to-cart]');
    if (button) {
      button.addEventListener('click', () => {
        addToCart(product);
        $('[data-added]').hidden = false;
      });
    }
  }

  function cartPage() {
    const lines = cart();
    const body = $('[data-cart-lines]');
    body.replaceChildren();
    let total = 0;
    for (const line of lines) {
      total += line.price * line.quantity;
      const row = node('tr');
      row.setAttribute('data-product-id', line.product_id);
      const name = node('td');
      const link = node('a', null, line.title);
      link.setAttribute('href', productUrl(line));
      name.appendChild(link);
      row.append(name, node('td', null, line.quantity), node('td', null, money(line.price * line.quantity, line.currency)));
      const remove = node('button', 'link', 'Remove');
      remove.type = 'button';
      remove.addEventListener('click', () => {
        saveCart(cart().filter((l) => l.product_id !== line.product_id));
        sdk.productRemoved({ product_id: line.product_id });
        cartPage();
        renderSlots();
      });
      const cell = node('td');
      cell.appendChild(remove);
      row.appendChild(cell);
      body.appendChild(row);
    }
    $('[data-cart-total]').textContent = money(total, lines.length ? lines[0].currency : 'EUR');
    $('[data-cart-table]').hidden = !lines.length;
    $('[data-checkout]').hidden = !lines.length;
    $('[data-cart-empty]').hidden = Boolean(lines.length);
    return { lines, total };
  }

  function checkout() {
    const { lines, total } = cartPage();
    if (!lines.length) return;
    const products = lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity, price: l.price }));
    sdk.checkoutStarted({ products, revenue: total });
    sdk.orderCompleted({ order_id: `demo-${Date.now()}`, revenue: Number(total.toFixed(2)), products });
    saveCart([]);
    cartPage();
    $('[data-ordered]').hidden = false;
    renderSlots();
  }

  async function login(event) {
    event.preventDefault();
    const form = event.target;
    const error = $('[data-login-error]');
    error.hidden = true;
    const response = await fetch(`${base}/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user_id: form.elements.user_id.value.trim() }),
    });
    const body = await response.json();
    if (!response.ok) {
      error.textContent = (body.error && body.error.message) || `HTTP ${response.status}`;
      error.hidden = false;
      return;
    }
    sdk.identify(body.user_id, { userHash: body.user_hash });
    await sdk.flush();
    const done = $('[data-login-done]');
    done.textContent = `Logged in as ${body.user_id}.`;
    done.hidden = false;
    showAccount();
  }

  function showAccount() {
    const user = sdk.userId();
    const who = $('[data-who]');
    who.textContent = user ? `Hi, ${user}` : '';
    who.hidden = !user;
    $('[data-login-link]').hidden = Boolean(user);
    $('[data-logout]').hidden = !user;
  }

  // -- consent -------------------------------------------------------------------------------

  function showConsent(open) {
    $('[data-consent-banner]').hidden = !open;
  }

  function choose(accepted) {
    const choices = { source: 'banner' };
    for (const purpose of ALL_PURPOSES) choices[purpose] = accepted;
    store(CHOICE, accepted ? 'accepted' : 'declined');
    showConsent(false);
    return sdk.consent.set(choices).then(() => {
      document.body.setAttribute('data-consent', accepted ? 'accepted' : 'declined');
      return Promise.all([renderSlots(), personalizeCategory()]);
    });
  }

  // -- start ---------------------------------------------------------------------------------

  function start() {
    sdk.init({ writeKey: config.writeKey, endpoint: config.endpoint });
    const choice = stored(CHOICE, null);
    if (choice) document.body.setAttribute('data-consent', choice);
    showConsent(!choice);
    $$('[data-choice]').forEach((button) => {
      button.addEventListener('click', () => choose(button.getAttribute('data-choice') === 'accept'));
    });
    $('[data-consent-open]').addEventListener('click', () => showConsent(true));
    $('[data-logout]').addEventListener('click', () => {
      sdk.reset();
      showAccount();
    });
    showCartCount();
    showAccount();
    const page = document.body.getAttribute('data-page');
    if (page === 'product') productPage();
    if (page === 'cart') {
      const { lines } = cartPage();
      sdk.cartViewed({ products: lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity })) });
      $('[data-checkout]').addEventListener('click', checkout);
    }
    if (page === 'category') {
      $('[data-category-grid]').addEventListener('click', categoryClicked);
      sdk.track('product_list_viewed', { category: $('[data-category-grid]').getAttribute('data-category') });
    }
    if (page === 'login') $('[data-login-form]').addEventListener('submit', login);
    Promise.all([renderSlots(), personalizeCategory().catch(() => null)]).then(() => {
      document.body.setAttribute('data-ready', 'true');
    });
  }

  start();
})();
