"""``POST /v1/events``: partial batches, limits, retries, dead letters, auth, rate limits."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.collect.conftest import EventFactory

from shopwise import store
from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.collect import MAX_BATCH_EVENTS, MAX_EVENT_BYTES
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def _stored(client: TestClient) -> list[str]:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    with runtime.engine.connect() as conn:
        return list(conn.execute(sa.select(store.events.c.message_id)).scalars())


def test_partial_batch_keeps_the_valid_events(
    client: TestClient, write_auth: dict[str, str], make_event: EventFactory
) -> None:
    good = make_event()
    batch = [good, make_event(properties={}), make_event("no_such_type"), "not an object"]
    response = client.post("/v1/events", json={"batch": batch}, headers=write_auth)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and body["duplicates"] == 0
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [
        (1, "invalid_properties"),
        (2, "unknown_type"),
        (3, "not_an_object"),
    ]
    assert "properties.product_id" in body["rejected"][0]["message"]
    assert _stored(client) == [good["message_id"]]


def test_retried_batch_creates_no_duplicates(
    client: TestClient, write_auth: dict[str, str], make_event: EventFactory
) -> None:
    batch = [make_event() for _ in range(10)]
    first = client.post("/v1/events", json={"batch": batch}, headers=write_auth).json()
    again = client.post("/v1/events", json={"batch": batch}, headers=write_auth).json()
    assert (first["accepted"], first["duplicates"]) == (10, 0)
    assert (again["accepted"], again["duplicates"]) == (0, 10)
    assert sorted(_stored(client)) == sorted(e["message_id"] for e in batch)


def test_duplicates_inside_one_batch_are_counted(
    client: TestClient, write_auth: dict[str, str], make_event: EventFactory
) -> None:
    event = make_event()
    body = client.post("/v1/events", json={"batch": [event, event]}, headers=write_auth).json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)


def test_limits_answer_413(
    client: TestClient, write_auth: dict[str, str], make_event: EventFactory
) -> None:
    too_many = [make_event() for _ in range(MAX_BATCH_EVENTS + 1)]
    response = client.post("/v1/events", json={"batch": too_many}, headers=write_auth)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    huge = client.post("/v1/events", content=b"{" + b" " * (600 * 1024) + b"}", headers=write_auth)
    assert huge.status_code == 413
    big_event = make_event(properties={"product_id": "p", "blob": "x" * MAX_EVENT_BYTES})
    body = client.post("/v1/events", json={"batch": [big_event]}, headers=write_auth).json()
    assert body["rejected"][0]["code"] == "event_too_large"
    assert _stored(client) == []


def test_malformed_requests_answer_400(client: TestClient, write_auth: dict[str, str]) -> None:
    for content, code in [
        (b"{nope", "malformed_json"),
        (b"[]", "invalid_batch"),
        (b'{"batch": {}}', "invalid_batch"),
        (b'{"batch": [], "extra": 1}', "invalid_batch"),
    ]:
        response = client.post("/v1/events", content=content, headers=write_auth)
        assert response.status_code == 400, content
        assert response.json()["error"]["code"] == code


def test_dead_letters_are_kept_once_and_replayed(
    client: TestClient,
    write_auth: dict[str, str],
    admin_auth: dict[str, str],
    make_event: EventFactory,
) -> None:
    bad = make_event("product_viewed", properties={"product_id": ""})
    for _ in range(2):  # a client retry must not duplicate the dead letter either
        client.post("/v1/events", json={"batch": [bad]}, headers=write_auth)
    letters = client.get("/v1/dead-letters", headers=admin_auth).json()["dead_letters"]
    assert len(letters) == 1
    assert letters[0]["code"] == "invalid_properties"
    assert orjson.loads(letters[0]["raw"]) == bad
    # nothing valid yet: replay leaves it pending
    result = client.post("/v1/dead-letters/replay", headers=admin_auth).json()
    assert result == {"replayed": 0, "still_invalid": 1, "duplicates": 0}
    # "the fix": the shop corrects the data upstream; here we patch the stored payload
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    fixed = {**bad, "properties": {"product_id": "p9"}}
    with runtime.engine.begin() as conn:
        conn.execute(store.dead_letters.update().values(raw=orjson.dumps(fixed).decode()))
    result = client.post("/v1/dead-letters/replay", headers=admin_auth).json()
    assert result["replayed"] == 1
    assert _stored(client) == [bad["message_id"]]
    assert client.get("/v1/dead-letters", headers=admin_auth).json()["dead_letters"] == []


def test_write_key_cannot_read_dead_letters(client: TestClient, write_auth: dict[str, str]) -> None:
    response = client.get("/v1/dead-letters", headers=write_auth)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_every_key_kind_may_send_events(client: TestClient, make_event: EventFactory) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    for kind in KeyKind:
        headers = {"Authorization": f"Bearer {runtime.keys.create(kind)[1]}"}
        body = client.post("/v1/events", json={"batch": [make_event()]}, headers=headers).json()
        assert body["accepted"] == 1


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, make_event: EventFactory) -> None:
    settings = Settings(data_dir=tmp_path, rate_limit_per_second=0.5, rate_limit_burst=2)
    runtime = Runtime.build(settings, migrate=True)
    headers = {"Authorization": f"Bearer {runtime.keys.create(KeyKind.WRITE)[1]}"}
    with TestClient(create_app(settings, runtime)) as client:
        codes = [
            client.post("/v1/events", json={"batch": [make_event()]}, headers=headers)
            for _ in range(3)
        ]
        other = {"Authorization": f"Bearer {runtime.keys.create(KeyKind.WRITE)[1]}"}
        assert client.post("/v1/events", json={"batch": []}, headers=other).status_code == 200
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].json()["error"]["code"] == "rate_limited"
    assert int(codes[2].headers["retry-after"]) >= 1
