"""The unmodified analytics.js (``@segment/analytics-next`` from npm) in Debian's Chromium.

A shop page on its own origin (a second local server) loads analytics-next's UMD bundle with
``cdnURL`` pointing at shopwise's ``/segment``, so the SDK takes shopwise's settings and sends
there, across origins, through CORS preflights. Checked: a page, a product view, an identify and
an order land and stitch into one profile; an event whose first send gets a 503 lands once after
the SDK's retry (which carries ``X-Retry-Count``, so it needs its own preflight); a revoked key
is reported, not retried; no request goes to any host but shopwise's and the page's.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; CI installs it) and the npm package
(``npm ci --prefix tests/browser``). Playwright drives the system Chromium: never
``playwright install``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.compat.conftest import HOST, EdgeServer

CHROMIUM = Path("/usr/bin/chromium")
UMD_DIR = Path(__file__).parent / "node_modules" / "@segment" / "analytics-next" / "dist" / "umd"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]

PAGE = b"""<!doctype html>
<html><head><title>shop</title><script src="/ajs/index.js"></script></head>
<body><h1>shop</h1><script>
window.sdkErrors = [];
window.startAnalytics = async (writeKey, cdnURL) => {
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL });
  analytics.on('error', (error) => window.sdkErrors.push(String(error.code) + ': ' + error.reason));
  window.analytics = analytics;
  return analytics.user().anonymousId();
};
</script></body></html>
"""


class _ShopPage(SimpleHTTPRequestHandler):
    """The shop's own origin: the page at ``/`` and analytics-next's UMD build under ``/ajs/``."""

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        name = urlsplit(path).path.removeprefix("/ajs/")
        return str(UMD_DIR / Path(name).name)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the requests from the browser instead."""


@pytest.fixture(scope="module")
def shop_url() -> Iterator[str]:
    if not (UMD_DIR / "index.js").is_file():
        pytest.fail(f"analytics-next is missing: run 'npm ci --prefix {UMD_DIR.parents[3]}'")
    server = ThreadingHTTPServer((HOST, 0), partial(_ShopPage))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser_page(shop_url: str) -> Iterator[tuple[Any, list[Any]]]:
    """A Chromium page on the shop's origin, and every request it makes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requests: list[Any] = []
            page.on("request", lambda request: requests.append(request))
            page.goto(shop_url + "/")
            yield page, requests
        finally:
            browser.close()


def _until(page: Any, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """``condition()`` once true; waits through Playwright, which records the page's requests
    only while it runs (a plain sleep would miss them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        page.wait_for_timeout(100)
    return condition()


def _origins(requests: list[Any]) -> set[str]:
    return {"{0.scheme}://{0.netloc}".format(urlsplit(request.url)) for request in requests}


def test_a_journey_lands_stitched_and_a_503_is_retried_once(
    edge_server: EdgeServer, shop_url: str, browser_page: tuple[Any, list[Any]]
) -> None:
    page, requests = browser_page
    _, write_key = edge_server.new_key()
    edge_server.faults.statuses.append(503)  # the first event post fails as a proxy's would
    before = edge_server.faults.posts
    anon = page.evaluate(
        "([key, cdn]) => window.startAnalytics(key, cdn)", [write_key, edge_server.url + "/segment"]
    )
    page.evaluate(
        """async (user) => {
          await analytics.page('Home');
          await analytics.track('Product Viewed', { product_id: 'p-1', price: 20 });
          await analytics.identify(user, { email: 'ada@example.com', firstName: 'Ada' });
          await analytics.track('Order Completed', {
            order_id: 'browser-o1', total: 40, currency: 'EUR',
            products: [{ product_id: 'p-1', quantity: 2, price: 20 }]
          });
        }""",
        "browser-user",
    )
    expected = ["identify", "order_completed", "page_viewed", "product_viewed"]
    events = _until(
        page, lambda: len(found := edge_server.profile_events(anon)) >= len(expected) and found
    )
    assert sorted(e["type"] for e in events) == expected
    assert len({e["message_id"] for e in events}) == len(events)
    assert edge_server.faults.posts - before == len(expected) + 1  # one retry, once

    def retried() -> list[Any]:
        return [r for r in requests if "x-retry-count" in r.headers]

    _until(page, retried)  # the server saw the retry; Playwright may still be reporting it
    assert len(retried()) == 1, [(r.method, r.url) for r in requests]
    assert page.evaluate("window.sdkErrors") == []

    profile = edge_server.get(f"/v1/profiles/{anon}")
    assert profile["user_ids"] == ["browser-user"]
    assert profile["anonymous_ids"] == [anon]
    assert profile["counters"]["orders"] == 1
    assert profile["traits"]["first_name"]["value"] == "Ada"
    assert events[0]["context"]["library"]["name"] == "analytics.js"
    page.wait_for_timeout(1000)  # late requests (telemetry) would show here
    assert _origins(requests) <= {shop_url, edge_server.url}, _origins(requests)


def test_a_revoked_key_is_reported_and_not_retried(
    edge_server: EdgeServer, shop_url: str, browser_page: tuple[Any, list[Any]]
) -> None:
    page, requests = browser_page
    key_id, write_key = edge_server.new_key()
    page.evaluate(
        "([key, cdn]) => window.startAnalytics(key, cdn)", [write_key, edge_server.url + "/segment"]
    )
    edge_server.runtime.keys.revoke(key_id)
    before = edge_server.faults.posts
    page.evaluate("() => analytics.track('Product Viewed', { product_id: 'p-1' })")
    errors = _until(page, lambda: page.evaluate("window.sdkErrors"))
    assert len(errors) == 1 and "401" in errors[0], errors
    page.wait_for_timeout(3000)  # a retry would have come by then
    assert edge_server.faults.posts - before == 1
    assert _origins(requests) <= {shop_url, edge_server.url}, _origins(requests)
