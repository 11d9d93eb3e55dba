"""The demo storefront at ``/demo``: a shop over the demo catalog that personalizes itself the way
a real shop would, through the public JS SDK (``/sdk/shopwise.js``) and the public API alone.

The server renders page shells from the catalog's public facts (names, categories, prices); every
personal thing comes from the SDK in the browser: the home page's targeted banner, rows and cart
reminder (``/v1/decide``), the category page's personalized order (``/v1/recommendations`` with
the category), the product page's similar and complementary rows, the cart's cross-sell, the
consent banner (``shopwise.consent.set``) and the login (``shopwise.identify`` with the user's
``user_hash``, which stitches the browser's anonymous history into the user's profile). The cart
lives in the browser's ``localStorage``.

Two things a shop's backend does are done here, simply, for the demo:

- the write key the pages send with: the one ``shopwise demo`` keeps in ``demo-keys.json`` in the
  data dir when it still verifies, else a write key of the storefront's own, created on the first
  page and kept in ``storefront-key.json`` beside it (a revoked one is replaced);
- the login's ``user_hash`` (identity verification): ``POST /demo/login`` computes it for any
  user id it is given, so the storefront is served in development only
  (``SHOPWISE_ENVIRONMENT=production`` answers 404).

The routes stay out of the OpenAPI schema: they are pages, not API.
"""

from shopwise.api.storefront._routes import PREFIX, router

__all__ = ["PREFIX", "router"]
