"""Rules and content over HTTP: validated, versioned, live at once; and /v1/decide."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from tests.serving.conftest import event

from shopwise.runtime import Runtime

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]

PIN = """
rules:
  - {name: hide-out-of-stock, type: filter, exclude: {out_of_stock: true}}
  - {name: hero, type: pin, product_id: g7, slot: 0}
"""


def test_rules_are_validated_versioned_and_live_at_once(shop: Shop) -> None:
    client, _runtime, keys = shop
    admin = keys["admin"]
    assert client.get("/v1/rules", headers=admin).json()["version"] == 0  # shipped defaults
    bad = client.put("/v1/rules", content="rules: [{name: x, type: pin, slot: 0}]", headers=admin)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_rules"
    assert "rules.0.pin.product_id" in bad.json()["error"]["message"]
    ok = client.put("/v1/rules", content=PIN, headers=admin)
    assert ok.status_code == 200 and ok.json()["version"] == 1
    body = client.get(
        "/v1/recommendations",
        params={"placement": "home", "anonymous_id": "z", "n": 3},
        headers=keys["secret"],
    ).json()
    assert body["items"][0]["product_id"] == "g7" and body["rules_version"] == 1
    assert body["rules_fired"][-1] == "hero"
    history = client.get("/v1/rules", headers=admin).json()["history"]
    assert [h["version"] for h in history] == [1]


def test_rules_need_an_admin_key(shop: Shop) -> None:
    client, _runtime, keys = shop
    assert client.put("/v1/rules", content=PIN, headers=keys["secret"]).status_code == 403
    assert client.get("/v1/content", headers=keys["write"]).status_code == 403


def test_decide_returns_products_message_banner_and_layout(shop: Shop) -> None:
    client, runtime, keys = shop
    carted = datetime.now(UTC) - timedelta(hours=3)
    cart = event("product_added", "dana", carted, product_id="k3")
    cart["context"] = {"consent": {"purposes": {"marketing": True}}}  # marketing is opt-in
    client.post("/v1/events", json={"batch": [cart]}, headers=keys["write"])
    runtime.score_provider = lambda _id: {"purchase_7d": 0.91}
    for _ in range(50):
        view = runtime.profiles.get("dana")
        if view is not None and view.state.carted:
            break
        import time

        time.sleep(0.02)
    body = client.get(
        "/v1/decide", params={"placement": "home", "anonymous_id": "dana"}, headers=keys["write"]
    ).json()
    assert body["items"] and body["recommendation_id"]
    assert body["message"]["name"] == "cart-reminder"
    assert body["message"]["reasons"] == ["rule", "personalized"]  # a write key's public reasons
    full = client.get(
        "/v1/decide", params={"placement": "home", "anonymous_id": "dana"}, headers=keys["secret"]
    ).json()
    assert full["message"]["reasons"] == ["block:cart-reminder", "cart_abandoned"]
    assert full["banner"]["reasons"] == ["block:discount-for-likely-buyers", "purchase_7d>=0.8"]
    assert body["banner"]["name"] == "discount-for-likely-buyers"
    assert [s["name"] for s in body["layout"]] == ["recommended", "new_arrivals", "bestsellers"]
