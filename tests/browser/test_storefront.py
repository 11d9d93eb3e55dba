"""The demo storefront (``/demo``) in Debian's Chromium, over a small trained shop.

One quick demo shop (``tests.conftest.quick_demo``, the fast ``transition`` model) is served by
uvicorn in a thread for the whole module; each test is a fresh browser context (a new shopper:
no cookie, empty localStorage). Checked, through the pages and the SDK alone: a shopper who
accepts consent and views three products of one category gets home recommendations that lean
toward it; a shopper who declines leaves no behaviour events in the store (only the consent
record); a login stitches the anonymous history into the user's profile; a shopper back to a cart
left earlier gets decide's cart reminder, linking to the storefront's cart; no page loads anything
from another host, and no page script throws.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``; CI installs it); Playwright drives the
system Chromium: never ``playwright install``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import uvicorn
from tests.compat.conftest import HOST, LiveServer
from tests.conftest import quick_demo

from shopwise.auth import KeyKind
from shopwise.runtime import Runtime

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HOME_SLOT = '[data-shopwise-placement="home"]'
PERSONAL_TYPES = frozenset({"consent_updated"})
"""What a shopper who declined may leave in the store: the record of the refusal itself."""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]


@dataclass
class Store(LiveServer):
    """The quick demo shop served over TCP, with its runtime and the browser that visits it."""

    runtime: Runtime
    browser: Any

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=orjson.dumps(body),
            headers={
                "Authorization": f"Bearer {self.secret_key}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = orjson.loads(response.read())
            return answer

    def leaf(self, product_id: str) -> str:
        return " > ".join(self.runtime.catalog.get(product_id).category)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from playwright.sync_api import sync_playwright

    data_dir = tmp_path_factory.mktemp("storefront") / "var"
    with quick_demo(data_dir, "transition") as (client, runtime, _shop):
        # the test client has run the app's startup; uvicorn serves the same started app
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(client.app, host=HOST, port=port, log_config=None, lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        secret = runtime.keys.create(KeyKind.SECRET)[1]
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                try:
                    yield Store(f"http://{HOST}:{port}", {}, "", secret, runtime, browser)
                finally:
                    browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@dataclass
class Visit:
    """One shopper's browser tab, the hosts its requests went to and its script errors."""

    page: Any
    hosts: set[str]
    errors: list[str]


@pytest.fixture
def visit(store: Store) -> Iterator[Visit]:
    context = store.browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    visit = Visit(page, set(), [])
    page.on("request", lambda request: visit.hosts.add(urlsplit(request.url).netloc))
    page.on("pageerror", lambda error: visit.errors.append(str(error)))
    try:
        yield visit
    finally:
        context.close()
    assert visit.errors == [], "the storefront's pages threw"


def _until(page: Any, condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """``condition()`` once true, waiting through Playwright (which keeps the page running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        page.wait_for_timeout(100)
    return condition()


def _viewed(store: Store, page: Any, any_id: str, expected: set[str]) -> list[dict[str, Any]]:
    """The profile's events once its product views are ``expected`` (events land
    asynchronously, mixed with page views and exposures)."""

    def views() -> list[dict[str, Any]] | None:
        events = _events_so_far(store, any_id)
        seen = {e["properties"]["product_id"] for e in events if e["type"] == "product_viewed"}
        return events if seen == expected else None

    events: list[dict[str, Any]] | None = _until(page, views)
    assert events is not None, f"{any_id} never had exactly these product views: {expected}"
    return events


def _events_so_far(store: Store, any_id: str) -> list[dict[str, Any]]:
    """The profile's events, or none while the profile does not exist yet (a 404)."""
    try:
        return store.profile_events(any_id)
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        return []


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']")


def _home_products(page: Any, store: Store) -> list[str]:
    """The products of the home page's personalized row, once the SDK has rendered it."""
    _open(page, store.url + "/demo")
    page.wait_for_selector(f"{HOME_SLOT}[data-shopwise-rendered='true']")
    ids: list[str] = page.eval_on_selector_all(
        f"{HOME_SLOT} .shopwise-item", "items => items.map(i => i.dataset.productId)"
    )
    return ids


def _choose(page: Any, choice: str) -> str:
    """Click the consent banner's button; the shopper's anonymous id."""
    page.click(f"[data-choice='{choice}']")
    page.wait_for_selector(f"body[data-consent='{choice.removesuffix('e')}ed']")
    anonymous_id: str = page.evaluate("shopwise.anonymousId()")
    return anonymous_id


def _category_to_browse(store: Store, shown: list[str]) -> tuple[str, list[str]]:
    """A leaf category with at least three products in stock, none of them on the home row."""
    members: dict[str, list[str]] = {}
    for product in store.runtime.catalog.snapshot().values():
        if product.in_stock:
            members.setdefault(" > ".join(product.category), []).append(product.id)
    on_home = {store.leaf(product_id) for product_id in shown}
    choices = sorted(
        (leaf, ids) for leaf, ids in members.items() if len(ids) >= 3 and leaf not in on_home
    )
    assert choices, "every category with three products is on the home row already"
    leaf, ids = max(choices, key=lambda choice: len(choice[1]))
    return leaf, sorted(ids)[:3]


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


@pytest.mark.slow
def test_three_views_of_a_category_pull_the_home_row_toward_it(store: Store, visit: Visit) -> None:
    page = visit.page
    _open(page, store.url + "/demo")
    assert page.is_visible("[data-consent-banner]")
    anonymous_id = _choose(page, "accept")
    page.wait_for_selector(f"{HOME_SLOT}[data-shopwise-rendered='true']")
    before = _home_products(page, store)
    assert len(before) == 10
    leaf, viewed = _category_to_browse(store, before)

    for product_id in viewed:
        _open(page, f"{store.url}/demo/products/{product_id}")
        page.wait_for_selector("[data-shopwise-placement='similar'][data-shopwise-rendered='true']")
    page.evaluate("shopwise.flush()")
    _viewed(store, page, anonymous_id, set(viewed))

    after = _home_products(page, store)
    leaning = [product_id for product_id in after if store.leaf(product_id) == leaf]
    # none of the category was on the row before; the rules cap a category at three a row
    assert len(leaning) >= 2, (leaf, after)
    department = leaf.split(" > ")[0]
    assert sum(store.leaf(p).startswith(department) for p in after) > sum(
        store.leaf(p).startswith(department) for p in before
    )
    assert page.get_attribute(HOME_SLOT, "data-shopwise-reason") == "personalized"
    # the category's own page puts the shopper's picks first
    slug = re.sub(r"[^a-z0-9]+", "-", leaf.lower()).strip("-")
    _open(page, f"{store.url}/demo/category/{slug}")
    grid = page.wait_for_selector("[data-category-grid][data-recommendation-id]")
    assert grid.get_attribute("data-personalized") == "true"
    assert visit.hosts == {urlsplit(store.url).netloc}, "a page loaded from another host"


def test_a_declined_shopper_leaves_no_behaviour_in_the_store(store: Store, visit: Visit) -> None:
    page = visit.page
    _open(page, store.url + "/demo")
    anonymous_id = _choose(page, "decline")
    product_id = next(iter(store.runtime.catalog.snapshot()))
    _open(page, f"{store.url}/demo/products/{product_id}")
    page.click("[data-add-to-cart]")
    _open(page, f"{store.url}/demo/cart")
    assert len(page.query_selector_all("[data-cart-lines] tr")) == 1
    page.wait_for_selector("[data-shopwise-placement='cart'][data-shopwise-rendered='true']")
    page.evaluate("shopwise.flush()")
    # the refusal itself is recorded (it is what keeps the rest out), and nothing else is
    events = store.wait_for_events(anonymous_id, 1)
    assert _types(events) == ["consent_updated"]
    assert events[0]["context"]["consent"]["purposes"]["analytics"] is False
    page.wait_for_timeout(1500)  # a batch the SDK would send on its timer has had its chance
    assert set(_types(store.profile_events(anonymous_id))) <= PERSONAL_TYPES
    assert page.text_content("[data-cart-count]") == "1"


def test_a_login_stitches_the_anonymous_history_into_the_user(store: Store, visit: Visit) -> None:
    page = visit.page
    _open(page, store.url + "/demo")
    anonymous_id = _choose(page, "accept")
    viewed = sorted(store.runtime.catalog.snapshot())[-2:]
    for product_id in viewed:
        _open(page, f"{store.url}/demo/products/{product_id}")
    _open(page, store.url + "/demo/login")
    page.fill("input[name='user_id']", "storefront-shopper")
    page.click("form[data-login-form] button[type='submit']")
    page.wait_for_selector("[data-login-done]:not([hidden])")
    assert page.text_content("[data-who]") == "Hi, storefront-shopper"

    assert _until(page, lambda: _stitched(store, anonymous_id)), "no stitch"
    events = _viewed(store, page, "storefront-shopper", set(viewed))
    identify = [e for e in events if e["type"] == "identify"]
    assert identify and identify[0]["context"]["identity"] == "verified"


def test_a_shopper_back_to_a_left_cart_is_reminded_of_it(store: Store, visit: Visit) -> None:
    page = visit.page
    _open(page, store.url + "/demo")
    anonymous_id = _choose(page, "accept")
    product_id = next(p.id for p in store.runtime.catalog.snapshot().values() if p.in_stock)
    # the shopper's earlier visit, long enough ago for the cart to count as left
    left = datetime.now(UTC) - timedelta(minutes=45)
    answer = store.post(
        "/v1/events",
        {
            "batch": [
                {
                    "message_id": f"left-cart-{anonymous_id}",
                    "type": "product_added",
                    "anonymous_id": anonymous_id,
                    "timestamp": left.isoformat(),
                    "properties": {"product_id": product_id, "quantity": 1, "price": 9.99},
                }
            ]
        },
    )
    assert answer["accepted"] == 1, answer
    assert _until(page, lambda: "product_added" in _types(_events_so_far(store, anonymous_id)))
    _open(page, store.url + "/demo")
    reminder = page.wait_for_selector("[data-announcements] .shopwise-message")
    assert "Still thinking it over?" in reminder.text_content()
    # the content block links to the shop's "/cart": this shop lives under /demo
    assert reminder.eval_on_selector("a", "a => a.getAttribute('href')") == "/demo/cart"


def _stitched(store: Store, anonymous_id: str) -> bool:
    """Whether the anonymous id and the user id name one profile."""
    try:
        user = store.get("/v1/profiles/storefront-shopper")["profile_id"]
        return bool(user == store.get(f"/v1/profiles/{anonymous_id}")["profile_id"])
    except urllib.error.HTTPError:
        return False
