"""PostgreSQL going away under a running API: requests fail fast with 503, then recover.

A TCP proxy stands between shopwise and the test's PostgreSQL server; cutting it drops every
connection and refuses new ones (as a restarting server does) without touching the server that
other tests use. Restoring it must be enough: no restart of shopwise.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from tests._proxy import Proxy
from tests.conftest import postgres_settings

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings

pytestmark = pytest.mark.services


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Settings, Proxy]]:
    for direct in postgres_settings(tmp_path / "direct"):
        url = make_url(str(direct.database_url))
        proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
        via = url.set(host="127.0.0.1", port=proxy.port)
        settings = Settings(
            database_url=via.render_as_string(hide_password=False),
            data_dir=tmp_path / "var",
            log_level="ERROR",
        )
        try:
            yield settings, proxy
        finally:
            proxy.close()


def _read(client: TestClient, headers: dict[str, str]) -> tuple[int, dict[str, str], float]:
    """A profile read, which goes to the store (404: nobody by that id)."""
    started = time.monotonic()
    answer = client.get("/v1/profiles/someone/events", headers=headers)
    return answer.status_code, dict(answer.headers), time.monotonic() - started


def _batch() -> dict[str, Any]:
    event = {
        "message_id": uuid.uuid4().hex,
        "type": "page_viewed",
        "anonymous_id": "a-outage",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    return {"batch": [event]}


def test_a_lost_database_answers_503_at_once_and_recovers_without_a_restart(
    proxied: tuple[Settings, Proxy],
) -> None:
    settings, proxy = proxied
    runtime = Runtime.build(settings, migrate=True)
    secret = runtime.keys.create(KeyKind.SECRET)[1]
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(create_app(settings, runtime)) as client:
        assert _read(client, headers)[0] == 404
        proxy.cut()  # the server restarts: every connection dropped, new ones refused
        status, answer_headers, took = _read(client, headers)
        assert status == 503 and answer_headers["retry-after"] == "1"
        assert took < 10  # fails fast (the connect timeout), never hangs
        assert client.get("/readyz").status_code == 503
        refused = client.post("/v1/events", json=_batch(), headers=headers)
        assert refused.status_code == 503  # the sender keeps the event and retries it
        proxy.restore()
        deadline = time.monotonic() + 15
        while (status := _read(client, headers)[0]) != 404 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert status == 404  # the same process: the pool replaced its dead connections
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/events", json=_batch(), headers=headers).json()["accepted"] == 1
