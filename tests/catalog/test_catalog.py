"""Catalog API: bulk upsert, validation, patches with history, paging and filters."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from shopwise import store
from shopwise.runtime import Runtime


def _products(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"p{i:03d}",
            "title": f"Chef knife {i}",
            "description": "Forged steel",
            "category": "Home > Kitchen > Knives" if i % 2 else ["Home", "Garden"],
            "brand": "Acme" if i % 3 else "Blade",
            "price": 10.0 + i,
            "stock": i % 4,
            "tags": ["new"] if i < 3 else [],
        }
        for i in range(n)
    ]


def test_upsert_then_update_records_changes(
    client: TestClient, secret_auth: dict[str, str]
) -> None:
    first = client.put("/v1/catalog/products", json={"products": _products(5)}, headers=secret_auth)
    assert first.json() == {"created": 5, "updated": 0, "changes": 0}
    changed = _products(5)
    changed[1]["price"] = 99.0
    again = client.put("/v1/catalog/products", json={"products": changed}, headers=secret_auth)
    assert again.json() == {"created": 0, "updated": 5, "changes": 1}
    product = client.get("/v1/catalog/products/p001", headers=secret_auth).json()
    assert product["category"] == ["Home", "Kitchen", "Knives"] and product["price"] == 99.0


def test_invalid_rows_reject_the_whole_request_naming_the_field(
    client: TestClient, secret_auth: dict[str, str]
) -> None:
    rows = _products(3)
    rows[2]["price"] = -1
    response = client.put("/v1/catalog/products", json={"products": rows}, headers=secret_auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_product" and "products[2].price" in error["message"]
    assert client.get("/v1/catalog/products", headers=secret_auth).json()["products"] == []


def test_patch_takes_effect_at_once_and_keeps_history(
    client: TestClient, secret_auth: dict[str, str]
) -> None:
    client.put("/v1/catalog/products", json={"products": _products(4)}, headers=secret_auth)
    in_stock = client.get("/v1/catalog/products?in_stock=true", headers=secret_auth).json()
    assert [p["id"] for p in in_stock["products"]] == ["p001", "p002", "p003"]
    patched = client.patch("/v1/catalog/products/p002", json={"stock": 0}, headers=secret_auth)
    assert patched.json()["stock"] == 0
    in_stock = client.get("/v1/catalog/products?in_stock=true", headers=secret_auth).json()
    assert [p["id"] for p in in_stock["products"]] == ["p001", "p003"]
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    with runtime.engine.connect() as conn:
        rows = conn.execute(sa.select(store.catalog_changes)).mappings().all()
    assert [(r["product_id"], r["field"], r["old"], r["new"]) for r in rows] == [
        ("p002", "stock", 2, 0)
    ]
    assert (
        client.patch(
            "/v1/catalog/products/nope", json={"stock": 1}, headers=secret_auth
        ).status_code
        == 404
    )
    assert (
        client.patch(
            "/v1/catalog/products/p002", json={"stock": -1}, headers=secret_auth
        ).status_code
        == 400
    )


def test_paging_and_filters(client: TestClient, secret_auth: dict[str, str]) -> None:
    client.put("/v1/catalog/products", json={"products": _products(25)}, headers=secret_auth)
    seen, cursor = [], None
    while True:
        url = "/v1/catalog/products?limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=secret_auth).json()
        seen += [p["id"] for p in page["products"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"p{i:03d}" for i in range(25)]
    knives = client.get("/v1/catalog/products?category=Knives&brand=Blade", headers=secret_auth)
    assert [p["id"] for p in knives.json()["products"]] == ["p003", "p009", "p015", "p021"]
    priced = client.get("/v1/catalog/products?min_price=30&max_price=32", headers=secret_auth)
    assert [p["id"] for p in priced.json()["products"]] == ["p020", "p021", "p022"]


def test_write_key_cannot_change_the_catalog(
    client: TestClient, write_auth: dict[str, str]
) -> None:
    response = client.put("/v1/catalog/products", json={"products": []}, headers=write_auth)
    assert response.status_code == 403


def test_the_snapshot_is_kept_while_the_table_is_unchanged_and_reloaded_after_a_write_elsewhere(
    tmp_path: object,
) -> None:
    """Two instances over one store stand for two processes: the reader re-checks every
    ``snapshot_seconds``; an unchanged table keeps the very same snapshot object."""
    import time
    from pathlib import Path

    from shopwise.catalog import Catalog, ProductPatch
    from shopwise.settings import Settings

    assert isinstance(tmp_path, Path)
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    writer = Catalog(runtime.engine)
    reader = Catalog(runtime.engine, snapshot_seconds=0.05)
    writer.upsert(_products(4))
    first = reader.snapshot()
    assert sorted(first) == ["p000", "p001", "p002", "p003"]
    time.sleep(0.1)
    assert reader.snapshot() is first  # checked again, nothing changed
    writer.patch("p002", ProductPatch(stock=0))
    assert reader.snapshot() is first  # not yet due
    time.sleep(0.1)
    second = reader.snapshot()
    assert second is not first and second["p002"].stock == 0
    writer.upsert(_products(5))
    time.sleep(0.1)
    assert sorted(reader.snapshot()) == [f"p{i:03d}" for i in range(5)]


@pytest.mark.parametrize("field", ["price", "title", "description", "available", "tags"])
def test_patch_refuses_null_for_a_field_every_product_has(
    client: TestClient, secret_auth: dict[str, str], field: str
) -> None:
    client.put("/v1/catalog/products", json={"products": _products(1)}, headers=secret_auth)
    refused = client.patch(
        "/v1/catalog/products/p000", json={field: None, "stock": 5}, headers=secret_auth
    )
    assert refused.status_code == 400
    assert field in refused.json()["error"]["message"]
    kept = client.get("/v1/catalog/products/p000", headers=secret_auth).json()
    assert kept[field] is not None and kept["stock"] != 5
    cleared = client.patch(
        "/v1/catalog/products/p000", json={"sale_price": None}, headers=secret_auth
    )
    assert cleared.status_code == 200
