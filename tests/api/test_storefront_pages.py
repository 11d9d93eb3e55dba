"""The demo storefront's pages over HTTP, without a browser: the shells the server renders from the
catalog, the write key they carry, the login's ``user_hash``, and the development-only gate.

The browser half (the SDK rendering the slots, consent, stitching) is ``tests/browser``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.profiles import IdentityVerifier
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.simulate import SimulationConfig, simulate

CONFIG = re.compile(r'<script id="shopwise-config" type="application/json">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def products() -> list[dict[str, Any]]:
    return simulate(
        SimulationConfig(n_products=60, n_customers=1, days=1, sale_start_day=None)
    ).products


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory, products: list[dict[str, Any]]
) -> Iterator[TestClient]:
    """One app over a small catalog for the whole module (building one is most of a test)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("storefront") / "var", log_level="WARNING")
    runtime = Runtime.build(settings, migrate=True)
    runtime.catalog.upsert(products)
    with TestClient(create_app(settings, runtime)) as client:
        yield client


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return runtime


def _config(page: str) -> dict[str, str]:
    found = CONFIG.search(page)
    assert found, "the page carries no #shopwise-config"
    config: dict[str, str] = json.loads(found.group(1))
    return config


def _product_ids(page: str) -> list[str]:
    return re.findall(r'class="card" href="/demo/products/[^"]+" data-product-id="([^"]+)"', page)


def _slug(path: list[str]) -> str:
    return re.sub(r"[^a-z0-9]+", "-", "-".join(path).lower()).strip("-")


def _path(product: dict[str, Any]) -> list[str]:
    category = product["category"]
    return category if isinstance(category, list) else category.split(" > ")


def test_home_carries_the_sdk_a_write_key_and_the_slots(shop: TestClient) -> None:
    response = shop.get("/demo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<script src="/sdk/shopwise.js"></script>' in page
    assert 'data-shopwise-placement="home"' in page
    config = _config(page)
    assert config["endpoint"] == "http://testserver"
    key = _runtime(shop).keys.verify(config["writeKey"])
    assert key.kind == KeyKind.WRITE
    # the key is made once and reused, not one per page
    keys = _runtime(shop).keys.list()
    assert _config(shop.get("/demo").text)["writeKey"] == config["writeKey"]
    assert _runtime(shop).keys.list() == keys


def test_pages_load_nothing_from_another_host(shop: TestClient, products: list[Any]) -> None:
    """No CDN: every script, style sheet and link of the shells is this server's."""
    slug = _slug(_path(products[0]))
    for path in ("/demo", f"/demo/category/{slug}", f"/demo/products/{products[0]['id']}"):
        page = shop.get(path).text
        refs = re.findall(r'(?:src|href)="([^"]*)"', page)
        assert refs, path
        assert all(ref.startswith("/") for ref in refs), (path, refs)


def test_static_files_are_served_and_nothing_else(shop: TestClient) -> None:
    css = shop.get("/demo/static/storefront.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    js = shop.get("/demo/static/storefront.js")
    assert js.status_code == 200 and "shopwise.init" in js.text.replace("sdk.init", "shopwise.init")
    missing = shop.get("/demo/static/..%2F_routes.py")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_a_category_page_lists_exactly_its_products(
    shop: TestClient, products: list[dict[str, Any]]
) -> None:
    leaf = _path(products[0])
    page = shop.get(f"/demo/category/{_slug(leaf)}").text
    expected = {p["id"] for p in products if _path(p) == leaf}
    assert set(_product_ids(page)) == expected
    assert f'data-category="{html.escape(" > ".join(leaf))}"' in page
    # the department page holds every product of the department, and links its children
    department = shop.get(f"/demo/category/{_slug(leaf[:1])}").text
    in_department = {p["id"] for p in products if _path(p)[0] == leaf[0]}
    assert set(_product_ids(department)) == in_department
    assert f'href="/demo/category/{_slug(leaf[:2])}"' in department


def test_an_unknown_category_or_product_is_a_404_naming_it(shop: TestClient) -> None:
    category = shop.get("/demo/category/no-such-thing")
    assert category.status_code == 404
    assert "no-such-thing" in category.json()["error"]["message"]
    product = shop.get("/demo/products/sku-missing")
    assert product.status_code == 404
    assert product.json()["error"]["message"].startswith("product_id:")


def test_a_product_page_has_its_facts_and_both_related_slots(
    shop: TestClient, products: list[dict[str, Any]]
) -> None:
    product = products[0]
    page = shop.get(f"/demo/products/{product['id']}").text
    assert html.escape(product["title"]) in page
    for placement in ("similar", "complementary"):
        assert (
            f'data-shopwise-placement="{placement}" data-shopwise-product="{product["id"]}"' in page
        )
    assert "data-add-to-cart" in page or product["stock"] == 0


def test_the_login_vouches_for_the_user_id(shop: TestClient) -> None:
    answer = shop.post("/demo/login", json={"user_id": "cust-00042"})
    assert answer.status_code == 200
    body = answer.json()
    verifier = IdentityVerifier.from_settings(_runtime(shop).settings)
    assert verifier.verifies("cust-00042", body["user_hash"])
    assert not verifier.verifies("cust-00043", body["user_hash"])


@pytest.mark.parametrize("body", [{}, {"user_id": ""}, {"user_id": "x", "password": "y"}])
def test_a_bad_login_is_a_400_naming_the_field(shop: TestClient, body: dict[str, Any]) -> None:
    answer = shop.post("/demo/login", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"]
    assert "user_id" in answer.text or "password" in answer.text


def test_the_demo_write_key_is_reused_and_a_revoked_one_replaced(shop: TestClient) -> None:
    runtime = _runtime(shop)
    demo_key = runtime.keys.create(KeyKind.WRITE, "demo write")[1]
    keys_file = Path(runtime.settings.data_dir) / "demo-keys.json"
    keys_file.write_bytes(orjson.dumps({"write": demo_key}))
    assert _config(shop.get("/demo").text)["writeKey"] == demo_key
    runtime.keys.revoke(runtime.keys.verify(demo_key).id)
    replaced = _config(shop.get("/demo").text)["writeKey"]
    assert replaced != demo_key
    assert runtime.keys.verify(replaced).kind == KeyKind.WRITE
    keys_file.unlink()


@pytest.fixture
def production(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "var",
        log_level="WARNING",
        environment="production",
        secret_key="a-production-secret-for-the-test",
        webhook_secret="a-production-webhook-secret",
    )
    with TestClient(create_app(settings, Runtime.build(settings, migrate=True))) as client:
        yield client


def test_the_storefront_is_not_served_in_production(production: TestClient) -> None:
    for response in (
        production.get("/demo"),
        production.post("/demo/login", json={"user_id": "cust-00001"}),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert not _runtime(production).keys.list()
