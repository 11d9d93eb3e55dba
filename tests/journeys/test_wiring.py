"""The outbox in the house: erasure and export, the worker job, the CLI and the settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from tests.journeys.conftest import SECRET, Receiver, make_outbox
from typer.testing import CliRunner

from shopwise.cli import app
from shopwise.journeys import Message, verify_signature
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.store import (
    outbox_attempts,
    outbox_messages,
    trigger_decisions,
    trigger_wakeups,
    write_transaction,
)
from shopwise.worker import Scheduler, worker_jobs

runner = CliRunner()


def _view(anonymous_id: str, user_id: str) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": "p1"},
    }


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_erasure_deletes_the_persons_messages_log_and_wakeups_and_export_lists_them(
    runtime: Runtime, receiver: Receiver
) -> None:
    stored = runtime.collector.ingest([_view("a-mail", "u-mail"), _view("a-other", "u-other")])
    assert runtime.bus.wait_until_consumed(stored.last_event_id, timeout=30)
    gone, kept = runtime.profiles.get("a-mail"), runtime.profiles.get("a-other")
    assert gone is not None and kept is not None
    outbox = make_outbox(runtime.engine, runtime.cipher)
    with write_transaction(runtime.engine) as conn:
        for profile in (gone, kept):
            message = Message(
                "webhook",
                receiver.url,
                {"n": 1},
                f"k-{profile.profile_id}",
                profile_id=profile.profile_id,
                purpose="necessary",
            )
            outbox.enqueue(conn, message)
            conn.execute(
                trigger_decisions.insert().values(
                    trigger="cart_abandonment",
                    profile_id=profile.profile_id,
                    anchor="cart:1",
                    outcome="fired",
                    anchor_at=1,
                    due_at=2,
                    decided_at=3,
                    trigger_version=0,
                )
            )
            conn.execute(trigger_wakeups.insert().values(profile_id=profile.profile_id, wake_at=4))
    assert outbox.dispatch_due().delivered == 2
    exported = runtime.rights.export("u-mail", "test")
    [listed] = exported["messages"]
    assert listed["status"] == "delivered" and listed["channel"] == "webhook"
    [decision] = exported["trigger_decisions"]
    assert (decision["trigger"], decision["outcome"]) == ("cart_abandonment", "fired")
    runtime.rights.request_erasure("u-mail", "test")
    [done] = runtime.rights.run_pending()
    assert done["status"] == "verified"
    assert _count(runtime.engine, outbox_messages) == 1
    assert _count(runtime.engine, outbox_attempts) == 1
    with runtime.engine.connect() as conn:
        decided = conn.execute(sa.select(trigger_decisions.c.profile_id)).scalars().all()
    assert decided == [kept.profile_id]
    with runtime.engine.connect() as conn:
        waking = conn.execute(sa.select(trigger_wakeups.c.profile_id)).scalars().all()
    assert waking == [kept.profile_id]
    with runtime.engine.connect() as conn:
        left = conn.execute(sa.select(outbox_messages.c.profile_id)).scalar_one()
    assert left == kept.profile_id


def test_the_worker_schedules_the_delivery_job(runtime: Runtime, receiver: Receiver) -> None:
    jobs = {job.name: job for job in worker_jobs(runtime, "popularity", 900, 86400)}
    job = jobs["deliver-messages"]
    assert job.lane == "short" and job.every_seconds <= 10
    outbox = make_outbox(runtime.engine, runtime.cipher)
    with write_transaction(runtime.engine) as conn:
        outbox.enqueue(conn, Message("webhook", receiver.url, {}, "from-the-worker"))
    detail = Scheduler(runtime.engine, [job]).run_once(job)
    assert detail is not None and detail["delivered"] == 1
    # the worker signs with SHOPWISE_WEBHOOK_SECRET (the development default here)
    assert receiver.keys == {"from-the-worker": 1}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPWISE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOPWISE_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("SHOPWISE_WEBHOOK_SECRET", SECRET.decode())
    return tmp_path


def test_cli_sends_a_signed_test_event(env: Path, receiver: Receiver) -> None:
    result = runner.invoke(app, ["webhooks", "test", receiver.url])
    assert result.exit_code == 0, result.output
    assert "status 200" in result.output and "latency" in result.output
    [request] = receiver.requests
    assert request.signed
    assert f"X-Shopwise-Signature: {request.headers['X-Shopwise-Signature']}" in result.output
    assert verify_signature(
        SECRET,
        request.headers["X-Shopwise-Timestamp"],
        request.body,
        request.headers["X-Shopwise-Signature"],
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [("not a url", "not an http(s) URL"), ("http://127.0.0.1:9/closed", "delivery failed")],
)
def test_cli_exits_2_with_one_line(env: Path, url: str, expected: str) -> None:
    result = runner.invoke(app, ["webhooks", "test", url])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and expected in result.output


def test_cli_reports_a_refusing_receiver(env: Path, receiver: Receiver) -> None:
    receiver.script = [500]
    result = runner.invoke(app, ["webhooks", "test", receiver.url])
    assert result.exit_code == 2 and "HTTP 500" in result.output


def test_signature_rejects_tampering_and_replays() -> None:
    body, stamp = b'{"a":1}', "1700000000"
    from shopwise.journeys import sign

    header = sign(SECRET, stamp, body)
    assert verify_signature(SECRET, stamp, body, header, now=1700000010)
    assert not verify_signature(SECRET, stamp, b'{"a":2}', header, now=1700000010)
    assert not verify_signature(b"other", stamp, body, header, now=1700000010)
    assert not verify_signature(SECRET, "1700000001", body, header, now=1700000010)
    assert not verify_signature(SECRET, stamp, body, header, now=1700000000 + 301)
    assert not verify_signature(SECRET, "soon", body, header, now=1700000010)


def test_production_refuses_the_development_webhook_secret() -> None:
    with pytest.raises(ValidationError, match="SHOPWISE_WEBHOOK_SECRET"):
        Settings(environment="production", secret_key="a-real-secret")
    Settings(environment="production", secret_key="a-real-secret", webhook_secret="another")
