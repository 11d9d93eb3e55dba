"""Retention: the worker deletes expired raw events and dead letters in batches, nothing else."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from shopwise import store
from shopwise.audit import AuditLog
from shopwise.runtime import Runtime
from shopwise.settings import Settings
from shopwise.worker import Scheduler, delete_expired, retention_job, worker_jobs

DAY = 24 * 60 * 60 * 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _event(
    message_id: str, at_ms: int, event_type: str = "product_viewed", **fields: Any
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "type": event_type,
        "anonymous_id": "a-1",
        "timestamp": (EPOCH + timedelta(milliseconds=at_ms)).isoformat(),
        "properties": {"product_id": "p1"},
        **fields,
    }


def _ids(runtime: Runtime, column: sa.Column[Any]) -> list[Any]:
    with runtime.engine.connect() as conn:
        return sorted(conn.execute(sa.select(column)).scalars())


def test_expired_events_and_dead_letters_go_in_batches_and_nothing_else(runtime: Runtime) -> None:
    now = int(time.time() * 1000)
    cutoff = now - 396 * DAY
    old_audit = AuditLog(runtime.engine, clock=lambda: now - 900 * DAY)
    old_audit.record("cli", "test.long_ago")
    consent = {"consent": {"purposes": {"marketing": True}, "source": "banner"}}
    batch = [
        *(_event(f"old-{i}", now - 800 * DAY + i) for i in range(6)),
        _event("old-consent", now - 700 * DAY, "consent_updated", context=consent, properties={}),
        _event("just-expired", cutoff - 1),
        _event("at-the-cutoff", cutoff),
        _event("recent", now - DAY),
        {"message_id": "bad-old", "type": "nope", "anonymous_id": "a-1"},
        {"message_id": "bad-new", "type": "nope", "anonymous_id": "a-1"},
    ]
    result = runtime.collector.ingest(batch)
    assert (result.accepted, len(result.rejected)) == (10, 2)
    assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=30)
    runtime.audit.record("cli", "test.recent")
    with store.write_transaction(runtime.engine) as conn:
        conn.execute(
            store.dead_letters.update()
            .where(store.dead_letters.c.raw.contains("bad-old"))
            .values(received_at=cutoff - DAY)
        )
    profile = runtime.profiles.current("a-1")
    consents = _ids(runtime, store.consent_changes.c.message_id)
    audit_head = runtime.audit.head()

    told: list[str] = []
    counts = delete_expired(runtime.engine, 396, now_ms=now, batch_rows=3, progress=told.append)

    assert counts == {"before": cutoff, "events": 8, "dead_letters": 1, "job_runs": 0}
    assert len(told) == 5  # events 3 + 3 + 2, a batch of dead letters, one of job runs
    assert _ids(runtime, store.events.c.message_id) == ["at-the-cutoff", "recent"]
    [kept_letter] = runtime.dead_letters.list()
    assert "bad-new" in kept_letter.raw
    # consent proof, accountability and the profile's fold all stay
    assert consents == ["old-consent"] == _ids(runtime, store.consent_changes.c.message_id)
    assert runtime.audit.head() == audit_head and runtime.audit.verify().ok
    assert runtime.profiles.current("a-1") == profile
    assert delete_expired(runtime.engine, 396, now_ms=now) == {
        **counts,
        "events": 0,
        "dead_letters": 0,
    }


def test_old_job_runs_go_but_the_newest_of_each_job_and_status_stays(runtime: Runtime) -> None:
    """Regression: a job every few seconds adds thousands of runs a day, and none ever went."""
    now = int(time.time() * 1000)

    def run(job: str, status: str, days_ago: float) -> dict[str, Any]:
        at = now - int(days_ago * DAY)
        return {
            "job": job,
            "owner": "w",
            "status": status,
            "started_at": at,
            "heartbeat_at": at,
            "finished_at": None if status == "running" else at,
            "detail": {},
        }

    rows = [
        *(run("deliver", "succeeded", 40 + i / 10) for i in range(5)),
        run("deliver", "succeeded", 1),
        run("deliver", "failed", 45),  # the only failure: tells when a retry is due
        run("retrain", "succeeded", 60),  # a job that last ran long ago keeps its last run
        run("retrain", "running", 50),  # never finished: not this job's to delete
    ]
    with store.write_transaction(runtime.engine) as conn:
        conn.execute(store.job_runs.insert(), rows)
    counts = delete_expired(runtime.engine, 396, now_ms=now, batch_rows=2)
    assert counts["job_runs"] == 5
    query = sa.select(store.job_runs.c.job, store.job_runs.c.status)
    with runtime.engine.connect() as conn:
        kept = sorted(tuple(row) for row in conn.execute(query))
    assert kept == [
        ("deliver", "failed"),
        ("deliver", "succeeded"),
        ("retrain", "running"),
        ("retrain", "succeeded"),
    ]


def test_the_worker_runs_retention_daily_with_the_configured_period(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", log_level="WARNING", retention_days=30)
    runtime = Runtime.build(settings, migrate=True)
    runtime.start()
    try:
        now = int(time.time() * 1000)
        stored = runtime.collector.ingest([_event("old", now - 31 * DAY), _event("new", now - DAY)])
        assert stored.accepted == 2
        job = retention_job(runtime)
        assert (job.name, job.every_seconds) == ("retention", 24 * 60 * 60)
        assert "retention" in [j.name for j in worker_jobs(runtime, "shopwise", 900, 86400)]
        detail = Scheduler(runtime.engine, [job]).run_once(job)
        assert detail is not None
        assert (detail["events"], detail["dead_letters"]) == (1, 0)
        assert _ids(runtime, store.events.c.message_id) == ["new"]
    finally:
        runtime.stop()


def test_the_retention_setting_round_trips_and_refuses_less_than_a_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings(data_dir=tmp_path).retention_days == 396
    monkeypatch.setenv("SHOPWISE_RETENTION_DAYS", "30")
    settings = Settings(data_dir=tmp_path)
    assert settings.retention_days == 30
    assert Settings.model_validate(settings.model_dump()) == settings
    for days in (0, -5):
        with pytest.raises(ValidationError, match=r"retention_days\n.*greater than or equal to 1"):
            Settings(data_dir=tmp_path, retention_days=days)
    with pytest.raises(ValueError, match="at least 1"):
        delete_expired(sa.create_engine("sqlite://"), 0)
