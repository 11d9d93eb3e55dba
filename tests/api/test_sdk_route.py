"""``GET /sdk/shopwise.js``, the product cards the SDK renders, and what the SDK posts: beacons
with the write key in the body, and page pings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from shopwise import store
from shopwise.api.sdk import MAX_CARDS
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime


def _runtime(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return runtime


def _event(event_type: str = "page_viewed", **properties: Any) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": event_type,
        "anonymous_id": "anon-sdk",
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": properties,
    }


def _stored(client: TestClient) -> dict[str, dict[str, Any]]:
    """Stored events by message id: their type and opened properties."""
    rt = _runtime(client)
    query = sa.select(store.events.c.message_id, store.events.c.type, store.events.c.properties)
    with rt.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        row.message_id: {"type": row.type, **rt.cipher.open_json(row.properties)} for row in rows
    }


def test_the_script_is_served_as_javascript_with_a_validator(client: TestClient) -> None:
    response = client.get("/sdk/shopwise.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "must-revalidate" in response.headers["cache-control"]
    assert "window.shopwise" not in response.text and "root.shopwise = api" in response.text
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    again = client.get("/sdk/shopwise.js", headers={"If-None-Match": f'"other", W/{etag}'})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    stale = client.get("/sdk/shopwise.js", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200 and stale.content == response.content


def test_product_cards_for_a_write_key_in_the_order_asked(
    client: TestClient, write_auth: dict[str, str]
) -> None:
    _runtime(client).catalog.upsert(
        [
            {
                "id": "p1",
                "title": "Red shoe",
                "category": "Shoes > Women",
                "price": 40,
                "sale_price": 30,
                "currency": "EUR",
                "image_url": "https://img.example/p1.jpg",
                "attributes": {"url": "/p/p1"},
            },
            {"id": "p2", "title": "Blue shoe", "price": 50, "stock": 0},
        ]
    )
    response = client.get("/sdk/products?ids=p2&ids=nope&ids=p1&ids=p2", headers=write_auth)
    assert response.status_code == 200
    cards = response.json()["products"]
    assert [card["product_id"] for card in cards] == ["p2", "p1"]
    assert cards[1] == {
        "product_id": "p1",
        "title": "Red shoe",
        "category": ["Shoes", "Women"],
        "brand": None,
        "price": 40.0,
        "sale_price": 30.0,
        "currency": "EUR",
        "image_url": "https://img.example/p1.jpg",
        "url": "/p/p1",
        "in_stock": True,
    }
    assert cards[0]["url"] is None and cards[0]["in_stock"] is False


def test_product_cards_need_a_key_and_a_bounded_list(
    client: TestClient, write_auth: dict[str, str]
) -> None:
    assert client.get("/sdk/products?ids=p1").status_code == 401
    too_many = "&".join(f"ids=p{i}" for i in range(MAX_CARDS + 1))
    response = client.get(f"/sdk/products?{too_many}", headers=write_auth)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("ids")
    missing = client.get("/sdk/products", headers=write_auth)
    assert missing.status_code == 400 and "ids" in missing.json()["error"]["message"]


def test_a_beacon_carries_the_write_key_in_its_body(client: TestClient) -> None:
    key = _runtime(client).keys.create(KeyKind.WRITE)[1]
    event = _event()
    # sendBeacon posts a text/plain Blob, the one body type that needs no CORS preflight
    body = {"batch": [event], "write_key": key}
    response = client.post(
        "/v1/events", json=body, headers={"Content-Type": "text/plain;charset=UTF-8"}
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1
    assert event["message_id"] in _stored(client)
    again = client.post("/v1/events", json=body)
    assert again.json()["duplicates"] == 1, "a beacon of a batch already sent is deduplicated"


def test_a_beacon_without_a_valid_key_is_refused(client: TestClient) -> None:
    batch = [_event()]
    for body in ({"batch": batch}, {"batch": batch, "write_key": ""}, {"write_key": 7}):
        response = client.post("/v1/events", json=body)
        assert response.status_code == 401, body
        assert "write_key" in response.json()["error"]["message"]
    assert client.post("/v1/events", content=b"not json").status_code == 401
    wrong = client.post("/v1/events", json={"batch": batch, "write_key": "sw_write_nope_nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "unauthorized"
    assert _stored(client) == {}


def test_a_beacon_body_is_checked_like_any_batch(client: TestClient) -> None:
    key = _runtime(client).keys.create(KeyKind.WRITE)[1]
    response = client.post("/v1/events", json={"batch": [], "write_key": key, "extra": 1})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_batch"


def test_page_pings_keep_active_seconds_and_scroll_depth(
    client: TestClient, write_auth: dict[str, str]
) -> None:
    ping = _event("page_ping", active_seconds=30, scroll_depth=75, noise="dropped")
    bad_depth = _event("page_ping", active_seconds=5, scroll_depth=150)
    no_time = _event("page_ping", scroll_depth=10)
    body = client.post(
        "/v1/events", json={"batch": [ping, bad_depth, no_time]}, headers=write_auth
    ).json()
    assert body["accepted"] == 1
    rejected = {r["index"]: r["message"] for r in body["rejected"]}
    assert "scroll_depth" in rejected[1] and "active_seconds" in rejected[2]
    stored = _stored(client)[ping["message_id"]]
    assert stored == {"type": "page_ping", "active_seconds": 30, "scroll_depth": 75}
