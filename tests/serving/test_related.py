"""Item-to-item lists a shop can trust (issue 23): the category walk that fills them, their length
under the default rules, 404 on unknown products, and honest cold-start labels."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from tests.serving.conftest import event

from shopwise.decide import REASON_CODES
from shopwise.runtime import Runtime

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]

TREE = {
    "tent0": (["Outdoors", "Camping", "Tents"], "2026-01-01"),
    "tent1": (["Outdoors", "Camping", "Tents"], "2026-01-01"),
    "bag0": (["Outdoors", "Camping", "Sleeping bags"], "2026-01-01"),
    "bag1": (["Outdoors", "Camping", "Sleeping bags"], "2026-01-05"),  # newer: first of equals
    "boot0": (["Outdoors", "Hiking", "Boots"], "2026-01-01"),
}
"""A hand-made branch added after training: nobody has viewed these products."""


def _add_tree(runtime: Runtime) -> None:
    runtime.catalog.upsert(
        [
            {
                "id": pid,
                "title": pid,
                "category": path,
                "price": 50.0,
                "stock": 5,
                "created_at": f"{day}T00:00:00Z",
            }
            for pid, (path, day) in TREE.items()
        ]
    )


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["product_id"] for item in body["items"]]


def _reasons(body: dict[str, Any]) -> list[str]:
    return [reason for item in body["items"] for reason in item["reasons"]]


def _known(code: str) -> bool:
    """Whether ``code`` is one of :data:`REASON_CODES` (a part in angle brackets is any name)."""
    return any(
        re.fullmatch(re.sub(r"<[a-z]+>", ".+", re.escape(pattern)), code) is not None
        for pattern in REASON_CODES
    )


def test_the_fill_walks_leaf_parent_department_then_the_catalog(shop: Shop) -> None:
    client, runtime, keys = shop
    _add_tree(runtime)
    body = client.get("/v1/products/tent0/similar", params={"n": 7}, headers=keys["secret"]).json()
    assert _ids(body)[:4] == ["tent1", "bag1", "bag0", "boot0"]
    assert [item["reasons"] for item in body["items"][:4]] == [
        ["fallback:same_category"],
        ["fallback:parent_category"],
        ["fallback:parent_category"],
        ["fallback:department"],
    ]
    artifact = runtime.champion.get()
    assert artifact is not None
    most_popular = [pid for pid, _score in artifact.popular.overall[:3]]
    assert _ids(body)[4:] == most_popular  # ranked by popularity at the catalog level
    assert all(item["reasons"] == ["fallback:popular"] for item in body["items"][4:])
    assert body["fallback"] == "category_walk"
    public = client.get("/v1/products/tent0/similar", headers=keys["write"]).json()
    assert set(_reasons(public)) == {"popular"}


def test_the_fill_ranks_a_level_by_popularity(shop: Shop) -> None:
    """k6 and k7 were never viewed: k7's list is its leaf's products, most popular first (the
    walk alone: content neighbours come before it, see test_related_content.py)."""
    client, runtime, keys = shop
    champion = runtime.champion.get()
    assert champion is not None
    champion.content = None
    body = client.get("/v1/products/k7/similar", params={"n": 7}, headers=keys["secret"]).json()
    artifact = runtime.champion.get()
    assert artifact is not None
    kitchen = [pid for pid, _score in artifact.popular.by_category["Kitchen"]]
    assert _ids(body) == [*kitchen, "k6"]  # k6 has no popularity: it comes last
    assert set(_reasons(body)) == {"fallback:same_category"}


def test_complementary_leaves_the_products_own_leaf_for_last(shop: Shop) -> None:
    client, runtime, keys = shop
    _add_tree(runtime)
    body = client.get(
        "/v1/products/tent0/complementary", params={"n": 30}, headers=keys["secret"]
    ).json()
    ids = _ids(body)
    assert ids[:3] == ["bag1", "bag0", "boot0"] and ids[-1] == "tent1"
    assert body["items"][-1]["reasons"] == ["fallback:same_category"]
    assert len(ids) == len(set(ids)) == 28  # every product but the tent itself


def test_default_rules_give_n_similar_items_issue_23(shop: Shop) -> None:
    """The bug: the 3-a-category cap cut a similar list of one category to three items, and the
    fallback (``min_items: 1``) never filled it."""
    client, _runtime, keys = shop
    five = client.get("/v1/products/k1/similar", params={"n": 5}, headers=keys["secret"]).json()
    assert len(five["items"]) == 5 and all(pid.startswith("k") for pid in _ids(five))
    ten = client.get("/v1/products/k1/similar", params={"n": 10}, headers=keys["secret"]).json()
    ids = _ids(ten)
    assert len(ids) == 10 and "k1" not in ids
    assert ids[:7] == [pid for pid in ids if pid.startswith("k")]  # the whole leaf first
    assert {item["reasons"][0] for item in ten["items"][7:]} == {"similar:content"}
    assert all(pid.startswith("g") for pid in ids[7:])  # Home > Garden: same department
    twenty = client.get("/v1/products/k1/similar", params={"n": 20}, headers=keys["secret"])
    tail = twenty.json()["items"][15:]  # the department is exhausted: the walk completes it
    assert len(tail) == 5 and {item["reasons"][0] for item in tail} == {"fallback:popular"}
    assert twenty.json()["fallback"] == "category_walk"


def test_out_of_stock_products_never_fill(shop: Shop) -> None:
    client, _runtime, keys = shop
    client.patch("/v1/catalog/products/k0", json={"stock": 0}, headers=keys["secret"])
    body = client.get("/v1/products/k7/similar", params={"n": 10}, headers=keys["secret"]).json()
    assert "k0" not in _ids(body) and len(body["items"]) == 10


def test_unknown_products_are_404_on_item_to_item_routes(shop: Shop) -> None:
    client, _runtime, keys = shop
    for route in ("similar", "complementary"):
        response = client.get(f"/v1/products/nope/{route}", headers=keys["write"])
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "unknown_product" and "product_id" in error["message"]
        assert error["details"][0]["field"] == "product_id"


def test_an_unknown_product_context_is_ignored_and_flagged(shop: Shop) -> None:
    client, _runtime, keys = shop
    params: dict[str, Any] = {
        "placement": "product",
        "anonymous_id": "a-1",
        "product_id": "nope",
        "n": 4,
    }
    for route in ("/v1/recommendations", "/v1/decide"):
        response = client.get(route, params=params, headers=keys["secret"])
        assert response.status_code == 200
        body = response.json()
        assert body["degraded"] == ["unknown_product"] and len(body["items"]) == 4


def test_a_visitor_without_history_gets_popular_not_a_session_list(shop: Shop) -> None:
    client, _runtime, keys = shop
    params: dict[str, Any] = {"placement": "home", "anonymous_id": "brand-new", "n": 5}
    body = client.get("/v1/recommendations", params=params, headers=keys["secret"]).json()
    assert len(body["items"]) == 5 and set(_reasons(body)) == {"popular"}
    landing = {**params, "category": "Home > Kitchen"}
    body = client.get("/v1/recommendations", params=landing, headers=keys["secret"]).json()
    head = body["items"][:3]  # the default cap of 3 a category: then popular in other ones
    assert [item["reasons"] for item in head] == [["popular_in_category:Kitchen"]] * 3
    assert all(pid.startswith("k") for pid in _ids(body)[:3])
    assert set(_reasons(body)) == {"popular_in_category:Kitchen", "popular"}
    assert len(body["items"]) == 5 and body["fallback"] == "popular_in_category"
    assert "personalized" not in _reasons(
        client.get("/v1/recommendations", params=params, headers=keys["write"]).json()
    )


def test_a_trending_fallback_says_trending(shop: Shop) -> None:
    client, _runtime, keys = shop
    rules = "rules:\n  - {name: hot, type: fallback, source: trending}\n"
    response = client.put("/v1/rules", content=rules, headers=keys["admin"])
    assert response.status_code < 300, response.text
    params: dict[str, Any] = {"placement": "home", "anonymous_id": "brand-new", "n": 5}
    body = client.get("/v1/recommendations", params=params, headers=keys["secret"]).json()
    assert set(_reasons(body)) == {"trending"} and body["fallback"] == "trending"


def test_every_reason_served_is_in_the_reason_table(shop: Shop) -> None:
    client, runtime, keys = shop
    _add_tree(runtime)
    client.post(
        "/v1/events",
        json={"batch": [event("product_viewed", "seen", datetime.now(UTC), product_id="k2")]},
        headers=keys["write"],
    )
    served = [
        client.get("/v1/products/tent0/similar", params={"n": 30}, headers=keys["secret"]),
        client.get("/v1/products/k1/similar", params={"n": 30}, headers=keys["secret"]),
        client.get("/v1/products/k1/complementary", params={"n": 30}, headers=keys["secret"]),
        client.get(
            "/v1/recommendations",
            params={"placement": "home", "anonymous_id": "seen", "n": 30},
            headers=keys["secret"],
        ),
        client.get(
            "/v1/recommendations",
            params={"placement": "home", "anonymous_id": "s0", "n": 30},
            headers=keys["secret"],
        ),
        client.get(
            "/v1/recommendations",
            params={"placement": "home", "anonymous_id": "new", "category": "Toys", "n": 30},
            headers=keys["secret"],
        ),
    ]
    codes = {code for response in served for code in _reasons(response.json())}
    assert {"similar:co-viewed", "fallback:popular", "session:transition"} <= codes
    assert [code for code in codes if not _known(code)] == []
