"""The ``/segment/v1`` routes in process: auth, gzip, limits, answers, dead letters, dedupe."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.store import events as events_table


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.runtime  # type: ignore[attr-defined]
    return rt


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def write_key(client: TestClient) -> str:
    return _runtime(client).keys.create(KeyKind.WRITE)[1]


@pytest.fixture
def secret(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {_runtime(client).keys.create(KeyKind.SECRET)[1]}"}


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {_runtime(client).keys.create(KeyKind.ADMIN)[1]}"}


def _events(client: TestClient, secret: dict[str, str], any_id: str) -> list[dict[str, Any]]:
    """The profile's events once the profiles consumer has caught up with every stored event."""
    rt = _runtime(client)
    with rt.engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(events_table.c.id))).scalar_one_or_none()
    assert rt.bus.wait_until_consumed(last or 0, timeout=10)
    response = client.get(f"/v1/profiles/{any_id}/events", headers=secret)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def _viewed(message_id: str, user: str = "a1") -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Product Viewed",
        "anonymousId": user,
        "messageId": message_id,
        "properties": {"product_id": "p1", "price": 3.5},
        "timestamp": "2026-03-01T10:00:00.000Z",
    }


def test_batch_with_basic_auth_answers_like_segment_and_stores_mapped_events(
    client: TestClient, write_key: str, secret: dict[str, str]
) -> None:
    body = {"batch": [_viewed("m1"), {**_viewed("m2"), "event": "Wishlist Viewed"}]}
    headers = {**_basic(write_key), "Origin": "https://shop.example"}
    response = client.post("/segment/v1/batch", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert response.headers["access-control-allow-origin"] == "*"
    events = _events(client, secret, "a1")
    assert [(e["message_id"], e["type"]) for e in events] == [
        ("m1", "product_viewed"),
        ("m2", "custom:wishlist_viewed"),
    ]


def test_a_retried_batch_is_not_stored_twice(
    client: TestClient, write_key: str, secret: dict[str, str]
) -> None:
    body = {"batch": [_viewed("r1"), _viewed("r2")]}
    for _ in range(3):
        assert client.post("/segment/v1/batch", json=body, headers=_basic(write_key)).is_success
    assert [e["message_id"] for e in _events(client, secret, "a1")] == ["r1", "r2"]


def test_gzip_bodies_are_accepted(
    client: TestClient, write_key: str, secret: dict[str, str]
) -> None:
    body = gzip.compress(orjson.dumps({"batch": [_viewed("g1")]}))
    headers = {**_basic(write_key), "Content-Encoding": "gzip"}
    assert client.post("/segment/v1/batch", content=body, headers=headers).json() == {
        "success": True
    }
    assert [e["message_id"] for e in _events(client, secret, "a1")] == ["g1"]
    broken = client.post("/segment/v1/batch", content=b"not gzip", headers=headers)
    assert (broken.status_code, broken.json()["error"]["code"]) == (400, "malformed_gzip")


def test_write_key_in_the_body_and_one_letter_routes_as_analytics_js_sends_them(
    client: TestClient, write_key: str, secret: dict[str, str]
) -> None:
    message = {**_viewed("t1"), "writeKey": write_key}
    del message["type"]  # the route says which call it is
    response = client.post(
        "/segment/v1/t", content=orjson.dumps(message), headers={"Content-Type": "text/plain"}
    )
    assert response.json() == {"success": True}
    assert [e["type"] for e in _events(client, secret, "a1")] == ["product_viewed"]


@pytest.mark.parametrize("call", ["track", "identify", "page", "screen", "alias", "group"])
def test_each_single_call_route_stores_its_call(
    client: TestClient, write_key: str, secret: dict[str, str], call: str
) -> None:
    message: dict[str, Any] = {"userId": "u1", "messageId": f"c-{call}", "event": "Signed Up"}
    if call == "alias":
        message["previousId"] = "a0"
    if call == "group":
        message["groupId"] = "g1"
    response = client.post(f"/segment/v1/{call}", json=message, headers=_basic(write_key))
    assert response.json() == {"success": True}
    expected = {
        "track": "custom:signed_up",
        "identify": "identify",
        "page": "page_viewed",
        "screen": "page_viewed",
        "alias": "alias",
        "group": "custom:group",
    }[call]
    assert [e["type"] for e in _events(client, secret, "u1")] == [expected]


def test_identify_and_alias_stitch_before_answering(
    client: TestClient, write_key: str, secret: dict[str, str]
) -> None:
    batch = [
        _viewed("s1", "anon-1"),
        {"type": "identify", "anonymousId": "anon-1", "userId": "u9", "messageId": "s2"},
        _viewed("s3", "anon-2"),
        {"type": "alias", "previousId": "anon-2", "userId": "u9", "messageId": "s4"},
    ]
    assert client.post(
        "/segment/v1/batch", json={"batch": batch}, headers=_basic(write_key)
    ).is_success
    profile = client.get("/v1/profiles/u9", headers=secret).json()
    assert profile["user_ids"] == ["u9"]
    assert profile["anonymous_ids"] == ["anon-1", "anon-2"]
    assert profile["counters"]["views"] == 2


def test_bad_or_missing_credentials_are_refused(client: TestClient, write_key: str) -> None:
    body = {"batch": [_viewed("x")]}
    assert client.post("/segment/v1/batch", json=body).status_code == 401
    wrong = _basic("sw_write_nope_nope")
    assert client.post("/segment/v1/batch", json=body, headers=wrong).status_code == 401
    garbled = {"Authorization": "Basic !!!"}
    assert client.post("/segment/v1/batch", json=body, headers=garbled).status_code == 401
    bearer = {"Authorization": f"Bearer {write_key}"}
    assert client.post("/segment/v1/batch", json=body, headers=bearer).status_code == 200


def test_segment_size_limits(client: TestClient, write_key: str) -> None:
    big = {**_viewed("big"), "properties": {"product_id": "p", "blob": "x" * 33 * 1024}}
    response = client.post("/segment/v1/track", json=big, headers=_basic(write_key))
    assert response.status_code == 413
    batch = {
        "batch": [{**_viewed(f"b{i}"), "properties": {"pad": "y" * 20_000}} for i in range(30)]
    }
    response = client.post("/segment/v1/batch", json=batch, headers=_basic(write_key))
    assert response.status_code == 413
    # a small gzip body that inflates past the limit is refused too
    bomb = gzip.compress(orjson.dumps({"batch": [], "pad": "z" * 600 * 1024}))
    headers = {**_basic(write_key), "Content-Encoding": "gzip"}
    response = client.post("/segment/v1/batch", content=bomb, headers=headers)
    assert response.status_code == 413


def test_malformed_bodies_are_400(client: TestClient, write_key: str) -> None:
    for body in (b"{", b"[1]", b'{"batch": 3}'):
        response = client.post("/segment/v1/batch", content=body, headers=_basic(write_key))
        assert response.status_code == 400, body


def test_unmappable_and_invalid_messages_are_dead_lettered_with_the_reason(
    client: TestClient, write_key: str, secret: dict[str, str], admin: dict[str, str]
) -> None:
    batch = [
        _viewed("ok"),
        {"type": "track", "anonymousId": "a1", "messageId": "no-name"},
        {**_viewed("no-product"), "properties": {"price": 1}},
        "not an object",
    ]
    response = client.post("/segment/v1/batch", json={"batch": batch}, headers=_basic(write_key))
    assert response.json() == {"success": True}
    assert [e["message_id"] for e in _events(client, secret, "a1")] == ["ok"]
    letters = client.get("/v1/dead-letters", headers=admin).json()["dead_letters"]
    reasons = sorted((letter["code"], letter["message"]) for letter in letters)
    assert reasons == [
        ("invalid_properties", "properties.product_id: Field required"),
        ("missing_event_name", "event: a track call needs a name"),
        ("not_an_object", "message must be a JSON object"),
    ]
    raws = [orjson.loads(letter["raw"]) for letter in letters]
    assert {"type": "track", "anonymousId": "a1", "messageId": "no-name"} in raws


def test_batch_context_applies_to_each_message(
    client: TestClient, write_key: str, secret: dict[str, str]
) -> None:
    body = {
        "batch": [_viewed("ctx1"), {**_viewed("ctx2"), "context": {"locale": "fr-FR"}}],
        "context": {"locale": "de-DE", "consent": {"categoryPreferences": {"Analytics": True}}},
    }
    assert client.post("/segment/v1/batch", json=body, headers=_basic(write_key)).is_success
    events = _events(client, secret, "a1")
    assert [e["context"]["locale"] for e in events] == ["de-DE", "fr-FR"]
    # the message's own context fields win field by field; the rest come from the batch
    assert [e["context"]["consent"] for e in events] == [{"purposes": {"analytics": True}}] * 2


def test_analytics_js_settings_point_it_back_at_shopwise(
    client: TestClient, write_key: str, secret: dict[str, str]
) -> None:
    origin = {"Origin": "https://shop.example"}
    response = client.get(f"/segment/v1/projects/{write_key}/settings", headers=origin)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "private, no-store"
    settings = response.json()
    segment_io = settings["integrations"]["Segment.io"]
    # analytics.js takes each event's write key from apiKey and from nowhere else
    assert segment_io == {
        "apiKey": write_key,
        "apiHost": "testserver/segment/v1",
        "protocol": "http",
    }
    assert settings["metrics"] == {"sampleRate": 0, "host": "testserver/segment/v1"}
    assert client.get("/segment/v1/projects/sw_write_x_y/settings").status_code == 401
    secret_key = secret["Authorization"].removeprefix("Bearer ")
    refused = client.get(f"/segment/v1/projects/{secret_key}/settings")
    assert refused.status_code == 403 and secret_key not in refused.text
    # analytics.js batching mode: POST {apiHost}/b, the write key inside each message
    message = {**_viewed("b1"), "writeKey": write_key}
    url = f"{segment_io['protocol']}://{segment_io['apiHost']}/b"
    response = client.post(url, content=orjson.dumps({"batch": [message]}))
    assert response.json() == {"success": True}
    assert [e["message_id"] for e in _events(client, secret, "a1")] == ["b1"]


def test_cors_preflight_is_answered_for_browser_sdks(client: TestClient) -> None:
    response = client.options(
        "/segment/v1/track",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in response.headers["access-control-allow-headers"]
