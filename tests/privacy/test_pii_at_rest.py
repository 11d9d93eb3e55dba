"""PII at rest: no email, name, phone or address is readable in the database file, whichever way it
arrived (identify, trait patch, the Segment routes, a dead letter); the API, the export and the
lookups still see them; a key rotation re-encrypts everything; no PII reaches the logs."""

from __future__ import annotations

import base64
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.cli import app as cli
from shopwise.logs import JsonFormatter
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import events

SECRETS = {
    "email": "ann.lee@example.com",
    "name": "Ann Lee",
    "phone": "+44 113 496 0000",
    "street": "17 Rose Lane",
    "segment_email": "bob.ray@example.org",
    "dead_email": "cat.fox@example.net",
}


def _identify(client: TestClient, key: dict[str, str]) -> None:
    body = {
        "user_id": "u-ann",
        "anonymous_id": "a-ann",
        "traits": {
            "email": SECRETS["email"],
            "name": SECRETS["name"],
            "address": {"street": SECRETS["street"], "city": "Leeds"},
            "plan": "gold",
        },
    }
    assert client.post("/v1/identify", json=body, headers=key).status_code == 200
    patch = {"traits": {"phone": SECRETS["phone"]}}
    assert client.patch("/v1/profiles/u-ann/traits", json=patch, headers=key).status_code == 200


def _segment(client: TestClient, write_key: str) -> None:
    basic = base64.b64encode(f"{write_key}:".encode()).decode()
    call = {
        "type": "identify",
        "userId": "u-bob",
        "anonymousId": "a-bob",
        "messageId": uuid.uuid4().hex,
        "timestamp": datetime.now(UTC).isoformat(),
        "traits": {"email": SECRETS["segment_email"], "birthday": "not a date"},
    }
    answer = client.post(
        "/segment/v1/identify", json=call, headers={"Authorization": f"Basic {basic}"}
    )
    assert answer.status_code == 200


def _dead_letter(client: TestClient, key: dict[str, str]) -> None:
    bad = {
        "message_id": uuid.uuid4().hex,
        "type": "identify",
        "timestamp": "not a time",
        "user_id": "u-cat",
        "properties": {"traits": {"email": SECRETS["dead_email"]}},
    }
    answer = client.post("/v1/events", json={"batch": [bad]}, headers=key).json()
    assert answer["accepted"] == 0 and len(answer["rejected"]) == 1


def _file_bytes(runtime: Runtime, data_dir: Path) -> bytes:
    with runtime.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in data_dir.glob("shopwise.db*"))


class _Listener(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_pii_is_sealed_at_rest_and_opened_for_readers(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    settings = Settings(data_dir=data_dir, log_level="DEBUG")
    runtime = Runtime.build(settings, migrate=True)
    records: list[logging.LogRecord] = []
    with TestClient(create_app(settings, runtime)) as client:
        # shopwise's own loggers do not propagate (JSON lines on stderr): listen to them here
        listener = _Listener(records)
        for name in ("shopwise", "uvicorn"):
            logging.getLogger(name).addHandler(listener)
        keys = {k: runtime.keys.create(k)[1] for k in KeyKind}
        secret = {"Authorization": f"Bearer {keys[KeyKind.SECRET]}"}
        _identify(client, secret)
        _segment(client, keys[KeyKind.WRITE])
        _dead_letter(client, secret)

        stored = _file_bytes(runtime, data_dir)
        for name, value in SECRETS.items():
            assert value.encode() not in stored, f"{name} readable in the database file"

        profile = client.get("/v1/profiles/u-ann", headers=secret).json()
        traits = {name: entry["value"] for name, entry in profile["traits"].items()}
        assert traits["email"] == SECRETS["email"] and traits["phone"] == SECRETS["phone"]
        assert traits["address"]["street"] == SECRETS["street"] and traits["plan"] == "gold"
        found = client.get("/v1/profiles/u-ann/events", headers=secret).json()["events"]
        assert any(e["properties"].get("traits", {}).get("name") == SECRETS["name"] for e in found)
        by_email = client.get(f"/v1/privacy/export/{SECRETS['email']}", headers=secret)
        assert by_email.status_code == 200
        assert by_email.json()["identities"]["user_ids"] == ["u-ann"]
        bob = client.get("/v1/profiles/u-bob", headers=secret).json()
        assert bob["traits"]["email"]["value"] == SECRETS["segment_email"]
        letters = client.get(
            "/v1/dead-letters", headers={"Authorization": f"Bearer {keys[KeyKind.ADMIN]}"}
        )
        assert SECRETS["dead_email"] in letters.text  # opened for the admin who reads them

        first_key = runtime.cipher.active_key
        with runtime.engine.connect() as conn:
            sealed = (
                conn.execute(sa.select(events.c.properties).where(events.c.user_id == "u-ann"))
                .scalars()
                .all()
            )
        assert any(f"pii:1:{first_key}:" in str(p) for p in sealed)

    result = CliRunner().invoke(
        cli, ["keys", "rotate-data-key"], env={"SHOPWISE_DATA_DIR": str(data_dir)}
    )
    assert result.exit_code == 0, result.output
    runtime = Runtime.build(settings, migrate=True)
    try:
        stored = _file_bytes(runtime, data_dir)
        assert f"pii:1:{first_key}:".encode() not in stored
        view = runtime.profiles.get("u-ann")
        assert view is not None
        assert runtime.cipher.open(view.state.traits["email"][0]) == SECRETS["email"]
    finally:
        runtime.engine.dispose()
    logged = "\n".join(JsonFormatter().format(record) for record in records)
    assert '"route":"/v1/privacy/export/{any_id}"' in logged  # the access log names routes
    for name, value in SECRETS.items():
        assert value not in logged, f"{name} in the logs"
