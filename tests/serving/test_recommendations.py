"""Serving: real-time answers, stock changes, exposure logging, degradation, key rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.serving.conftest import event

from shopwise import store
from shopwise.runtime import Runtime

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]


def _ids(body: dict[str, object]) -> list[str]:
    return [item["product_id"] for item in body["items"]]  # type: ignore[index, union-attr]


def test_answer_has_ids_reasons_and_model_version(shop: Shop) -> None:
    client, runtime, keys = shop
    body = client.get(
        "/v1/recommendations",
        params={"placement": "home", "anonymous_id": "new", "n": 5},
        headers=keys["secret"],
    ).json()
    assert len(body["items"]) == 5
    assert body["model_version"] == runtime.champion.version
    assert len(body["recommendation_id"]) == 32
    assert all(item["reasons"] for item in body["items"])


def test_a_view_ingested_just_before_changes_the_next_answer(shop: Shop) -> None:
    client, _runtime, keys = shop
    params = {"placement": "home", "anonymous_id": "fresh-visitor", "n": 3}
    before = client.get("/v1/recommendations", params=params, headers=keys["write"]).json()
    view = event("product_viewed", "fresh-visitor", datetime.now(UTC), product_id="t2")
    client.post("/v1/events", json={"batch": [view]}, headers=keys["write"])
    after = client.get("/v1/recommendations", params=params, headers=keys["write"]).json()
    assert _ids(after) != _ids(before)
    assert _ids(after)[0] == "t3"  # t2 is followed by t3 in other shoppers' journeys
    assert after["items"][0]["reasons"] == ["personalized"]  # a write key's public reason
    full = client.get("/v1/recommendations", params=params, headers=keys["secret"]).json()
    assert full["items"][0]["reasons"] == ["session:transition"]


def test_stock_change_removes_the_product_from_the_very_next_response(shop: Shop) -> None:
    client, _runtime, keys = shop
    view = event("product_viewed", "stock-test", datetime.now(UTC), product_id="k1")
    client.post("/v1/events", json={"batch": [view]}, headers=keys["write"])
    params = {"placement": "home", "anonymous_id": "stock-test", "n": 3}
    first = _ids(client.get("/v1/recommendations", params=params, headers=keys["write"]).json())
    assert first[0] == "k2"
    client.patch("/v1/catalog/products/k2", json={"stock": 0}, headers=keys["secret"])
    body = client.get("/v1/recommendations", params=params, headers=keys["write"]).json()
    assert "k2" not in _ids(body)
    assert "hide-out-of-stock" in body["rules_fired"]


def test_exposure_is_logged_as_recommendation_viewed(shop: Shop) -> None:
    client, runtime, keys = shop
    body = client.get(
        "/v1/recommendations",
        params={"placement": "home", "anonymous_id": "exp"},
        headers=keys["write"],
    ).json()
    message = f"exp-{body['recommendation_id']}"
    runtime.exposures.flush()  # otherwise handed over within the log's interval (1 s)
    for _ in range(100):
        with runtime.engine.connect() as conn:
            row = conn.execute(
                sa.select(store.events.c.properties).where(store.events.c.message_id == message)
            ).first()
        if row is not None:
            break
        time.sleep(0.02)
    assert row is not None
    assert row.properties["product_ids"] == _ids(body)
    # the id starts with the serving time: exposure rows append to the unique index
    served_ms = int(body["recommendation_id"][:12], 16)
    assert abs(served_ms - time.time() * 1000) < 60_000


def test_missing_model_falls_back_and_says_so(shop: Shop) -> None:
    client, runtime, keys = shop
    runtime.champion._value = None  # as if no model had ever been trained
    response = client.get(
        "/v1/recommendations",
        params={"placement": "home", "anonymous_id": "x", "n": 4},
        headers=keys["secret"],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] == ["model_missing"] and body["fallback"] == "popular_in_category"
    assert len(body["items"]) == 4


def test_corrupt_artifact_keeps_serving(shop: Shop) -> None:
    client, runtime, keys = shop
    good = runtime.champion.version
    version = runtime.recommenders.save({"not": "an artifact"}, {}, promote=True)
    assert runtime.champion.refresh() is False
    assert runtime.champion.version == version and runtime.champion.last_error
    body = client.get(
        "/v1/recommendations",
        params={"placement": "home", "anonymous_id": "x"},
        headers=keys["secret"],
    ).json()
    assert body["items"] and body["model_version"] == version != good


def test_failing_model_degrades_not_500(shop: Shop) -> None:
    client, runtime, keys = shop
    artifact = runtime.champion.get()
    assert artifact is not None

    def broken(_histories: object) -> object:
        raise RuntimeError("boom")

    artifact.model.score = broken  # type: ignore[method-assign]
    response = client.get(
        "/v1/recommendations",
        params={"placement": "home", "anonymous_id": "x", "cart": "k1"},  # a history to score
        headers=keys["secret"],
    )
    assert response.status_code == 200 and response.json()["degraded"] == ["model_failed"]


def test_write_keys_may_only_ask_for_anonymous_ids(shop: Shop) -> None:
    client, _runtime, keys = shop
    response = client.get(
        "/v1/recommendations",
        params={"placement": "home", "user_id": "alice"},
        headers=keys["write"],
    )
    assert response.status_code == 403


def test_similar_and_complementary(shop: Shop) -> None:
    client, _runtime, keys = shop
    similar = client.get("/v1/products/k1/similar", headers=keys["write"]).json()
    assert len(similar["items"]) == 10 and "k1" not in _ids(similar)
    assert all(pid.startswith("k") for pid in _ids(similar)[:7])  # then Home > Garden fills
    complementary = client.get("/v1/products/k1/complementary", headers=keys["write"]).json()
    assert len(complementary["items"]) == 10
    assert all(not pid.startswith("k") for pid in _ids(complementary))


def test_precomputed_lists_are_served_and_fused_with_fresh_sessions(shop: Shop) -> None:
    client, runtime, keys = shop
    assert runtime.precomputed.get() is not None
    params = {"placement": "home", "anonymous_id": "s0", "n": 3}  # s0 browsed k0..k5
    body = client.get("/v1/recommendations", params=params, headers=keys["secret"]).json()
    assert all(item["reasons"] == ["precomputed:transition"] for item in body["items"])
    view = event("product_viewed", "s0", datetime.now(UTC), product_id="g4")
    client.post("/v1/events", json={"batch": [view]}, headers=keys["write"])
    fused = client.get("/v1/recommendations", params=params, headers=keys["secret"]).json()
    assert fused["items"][0]["product_id"] == "g5"
    assert "session:transition" in fused["items"][0]["reasons"]


def test_store_outage_serves_without_the_profile(shop: Shop) -> None:
    client, runtime, keys = shop

    def down(_any_id: str) -> object:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("database is unreachable"))

    runtime.profiles.current = down  # type: ignore[method-assign]
    response = client.get(
        "/v1/recommendations",
        params={"placement": "home", "user_id": "u1", "n": 3},
        headers=keys["secret"],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] == ["profile_unavailable"] and len(body["items"]) == 3
