"""The dashboard in Debian's Chromium: its plotly charts are drawn with data, and the rules editor
refuses an invalid rule set naming the field.

A filled quick demo shop (``tests.dashboard.helpers``) is served by uvicorn in a thread; the
browser logs in with the admin key through the form, as an operator would. Nothing is fetched
from any other host: plotly.js comes from the server (the Python ``plotly`` package).

With ``SHOPWISE_DASHBOARD_SCREENSHOTS=1`` the test also saves ``docs/img/dashboard-overview.png``
and ``docs/img/dashboard-models.png``.

Needs ``/usr/bin/chromium`` (``apt-get install chromium``); Playwright drives the system
Chromium: never ``playwright install``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from tests.compat.conftest import HOST
from tests.conftest import quick_demo
from tests.dashboard.helpers import fill

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "img"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The served dashboard's base URL and an admin key."""
    with quick_demo(tmp_path_factory.mktemp("browser-dashboard") / "var", "transition") as demo:
        filled = fill(*demo)
        # the runtime is already started by the test client's lifespan: the server only serves
        config = uvicorn.Config(filled.client.app, host=HOST, port=0, log_config=None)
        config.lifespan = "off"
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-thread server did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"http://{HOST}:{port}", filled.admin_key
        finally:
            server.should_exit = True
            thread.join(timeout=30)


@pytest.fixture(scope="module")
def page(dashboard: tuple[str, str]) -> Iterator[tuple[Any, list[str]]]:
    """A logged-in Chromium page, and the URL of every request it makes."""
    from playwright.sync_api import sync_playwright

    url, key = dashboard
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            tab.on("request", lambda request: requests.append(request.url))
            tab.goto(url + "/dashboard")
            assert urlsplit(tab.url).path == "/dashboard/login"
            tab.fill("#api_key", key)
            tab.click("button[type=submit]")
            tab.wait_for_url(url + "/dashboard")
            yield tab, requests
        finally:
            browser.close()


def _drawn_charts(tab: Any) -> int:
    tab.wait_for_selector("figure.chart[data-drawn='true'] svg.main-svg", timeout=20_000)
    count: int = tab.locator("figure.chart[data-drawn='true']").count()
    return count


@pytest.mark.slow
def test_the_charts_are_drawn_with_data(
    dashboard: tuple[str, str], page: tuple[Any, list[str]]
) -> None:
    url, _ = dashboard
    tab, requests = page
    tab.goto(url + "/dashboard")
    assert _drawn_charts(tab) >= 7
    # plotly drew the served impressions: the first chart has a trace with points
    points = tab.locator("figure.chart").first.locator("g.trace path.point, g.points path")
    assert points.count() >= 1
    if os.environ.get("SHOPWISE_DASHBOARD_SCREENSHOTS"):
        tab.screenshot(path=str(SCREENSHOTS / "dashboard-overview.png"), full_page=False)

    tab.goto(url + "/dashboard/models")
    assert _drawn_charts(tab) >= 2
    assert tab.locator("button", has_text="Promote").count() >= 1
    if os.environ.get("SHOPWISE_DASHBOARD_SCREENSHOTS"):
        tab.screenshot(path=str(SCREENSHOTS / "dashboard-models.png"), full_page=False)
    hosts = {"{0.scheme}://{0.netloc}".format(urlsplit(r)) for r in requests}
    assert hosts <= {url}, hosts


def test_the_rules_editor_refuses_an_invalid_rule_set(
    dashboard: tuple[str, str], page: tuple[Any, list[str]]
) -> None:
    url, _ = dashboard
    tab, _ = page
    tab.goto(url + "/dashboard/editor")
    editor = tab.locator("#editor-rules textarea")
    editor.fill("rules:\n  - name: big\n    type: boost\n    match: {}\n    factor: not-a-number\n")
    tab.locator("#editor-rules button[value=save]").click()
    tab.wait_for_selector("#editor-rules .errors")
    errors = tab.locator("#editor-rules .errors").inner_text()
    assert "rules.0.boost.factor" in errors and "valid number" in errors
    assert "factor: not-a-number" in tab.locator("#editor-rules textarea").input_value()
    assert "saved as version" not in tab.content()
