"""Screenshots of the demo storefront for the docs: ``docs/img/storefront-home.png`` and
``docs/img/storefront-product.png``.

Builds the quick demo shop in a temporary data dir (simulated, loaded through the collector, the
``transition`` model trained), serves it with uvicorn in a thread, and drives Debian's Chromium
(``/usr/bin/chromium``, never ``playwright install``) through one shopper's visit: accept the
consent banner, view three products of one category, then capture the home page (its row now
leaning toward that category) and a product page with its similar and complementary rows.

    .venv/bin/python docs/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from fastapi.testclient import TestClient

from shopwise.api import create_app
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.simulate import SimulationConfig, load, simulate
from shopwise.worker import train_recommenders

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CATEGORY = "home-kitchen-tableware"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/demo")
        page.wait_for_selector("body[data-ready='true']")
        page.click("[data-choice='accept']")
        page.wait_for_selector("body[data-consent='accepted']")
        page.goto(f"{url}/demo/category/{CATEGORY}")
        page.wait_for_selector("[data-category-grid][data-recommendation-id]")
        products = page.eval_on_selector_all(
            "[data-category-grid] [data-product-id]", "cards => cards.map(c => c.dataset.productId)"
        )
        for product_id in products[:3]:
            page.goto(f"{url}/demo/products/{product_id}")
            page.wait_for_selector("[data-shopwise-placement='similar'][data-shopwise-rendered]")
        page.click("[data-add-to-cart]")
        page.wait_for_selector("[data-shopwise-placement='complementary'][data-shopwise-rendered]")
        page.evaluate("shopwise.flush()")
        page.screenshot(path=str(out / "storefront-product.png"), full_page=True)
        page.wait_for_timeout(1000)  # the views reach the shopper's session state
        page.goto(f"{url}/demo")
        page.wait_for_selector("[data-shopwise-placement='home'][data-shopwise-rendered='true']")
        page.screenshot(path=str(out / "storefront-home.png"), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", log_level="WARNING")
        runtime = Runtime.build(settings, migrate=True)
        with TestClient(create_app(settings, runtime)) as client:
            shop = simulate(SimulationConfig.quick())
            loaded = load(shop, runtime.collector.ingest, runtime.catalog.upsert)
            last = max(getattr(answer, "last_event_id", 0) for answer in loaded.responses)
            runtime.bus.wait_until_consumed(last, timeout=120)
            train_recommenders(runtime, "transition", lambda _message: None)
            port = _free_port()
            server = uvicorn.Server(
                uvicorn.Config(client.app, port=port, log_config=None, lifespan="off")
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.02)
            try:
                _shoot(f"http://127.0.0.1:{port}", args.out)
            finally:
                server.should_exit = True
                thread.join(timeout=30)
    print(f"wrote {args.out}/storefront-home.png and {args.out}/storefront-product.png")


if __name__ == "__main__":
    main()
