"""Health probes, the error format, request ids and key-kind authorization."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from shopwise import store
from shopwise.api import create_app
from shopwise.api._auth import bearer_token
from shopwise.errors import AuthError
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["revision"] == sorted(store.head_revisions())


def test_readyz_reports_pending_migrations(settings: Settings) -> None:
    runtime = Runtime.build(settings, migrate=False)
    with TestClient(create_app(settings, runtime)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "migrations_pending"


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-1"}).headers["x-request-id"] == "abc-1"
    )
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_unknown_route_uses_the_error_format(client: TestClient) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    body = response.json()["error"]
    assert body["code"] == "not_found"
    assert set(body) >= {"code", "message", "details"}


def test_missing_and_wrong_keys_are_401(client: TestClient) -> None:
    payload = {"batch": []}
    assert client.post("/v1/events", json=payload).status_code == 401
    bad = {"Authorization": "Bearer sw_write_nope_nope"}
    assert client.post("/v1/events", json=payload, headers=bad).json()["error"]["code"] == (
        "unauthorized"
    )
    assert client.post(
        "/v1/events", json=payload, headers={"Authorization": "Basic x"}
    ).status_code == (401)


@pytest.mark.parametrize(
    ("header", "message"),
    [(b"", "missing Authorization"), (b"Basic x", "must be"), (b"Bearer   ", "must be")],
)
def test_a_malformed_authorization_header_is_refused_every_time(
    header: bytes, message: str
) -> None:
    bad = _request([(b"host", b"x"), (b"authorization", header)])
    for _ in range(2):
        with pytest.raises(AuthError, match=message):
            bearer_token(bad)
    good = _request([(b"authorization", b"Bearer  sw_write_k ")])
    assert bearer_token(good) == bearer_token(good) == "sw_write_k"


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "headers": headers})


def test_revoked_key_is_refused(client: TestClient) -> None:
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    from shopwise.auth import KeyKind

    key, plaintext = runtime.keys.create(KeyKind.WRITE)
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.post("/v1/events", json={"batch": []}, headers=headers).status_code == 200
    runtime.keys.revoke(key.id)
    assert client.post("/v1/events", json={"batch": []}, headers=headers).status_code == 401


def test_made_up_keys_cannot_grow_the_key_cache(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopwise.auth import KeyKind, _keys

    monkeypatch.setattr(_keys, "MAX_CACHED", 8)
    runtime: Runtime = client.app.runtime  # type: ignore[attr-defined]
    _key, plaintext = runtime.keys.create(KeyKind.WRITE)
    for i in range(50):
        with pytest.raises(AuthError):
            runtime.keys.verify(f"sw_write_made_up_{i}")
        assert len(runtime.keys._cache) <= 8
    assert runtime.keys.verify(plaintext).kind == KeyKind.WRITE
    assert plaintext not in runtime.keys._cache  # remembered by its hash, never in plain text
    headers = {"Authorization": f"Bearer {plaintext}"}
    assert client.post("/v1/events", json={"batch": []}, headers=headers).status_code == 200
