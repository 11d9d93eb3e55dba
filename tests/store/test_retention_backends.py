"""The retention job's batched deletes on every store backend."""

from __future__ import annotations

import sqlalchemy as sa

from shopwise import store
from shopwise.worker import delete_expired

DAY = 24 * 60 * 60 * 1000
NOW = 1_780_000_000_000


def _event(n: int, at: int) -> dict[str, object]:
    return {
        "message_id": f"m-{n}",
        "type": "page_viewed",
        "anonymous_id": "a",
        "timestamp": at,
        "received_at": NOW,
        "context": {},
        "properties": {},
    }


def _letter(n: int, at: int) -> dict[str, object]:
    return {"received_at": at, "fingerprint": f"f-{n}", "raw": "{}", "code": "x", "message": "x"}


def _run(at: int) -> dict[str, object]:
    return {
        "job": "deliver",
        "owner": "w",
        "status": "succeeded",
        "started_at": at,
        "heartbeat_at": at,
        "finished_at": at,
        "detail": {},
    }


def test_expired_rows_are_deleted_in_batches_on_every_backend(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(store.events.insert(), [_event(n, NOW - (5 + n) * DAY) for n in range(7)])
        conn.execute(store.events.insert(), [_event(100, NOW)])
        conn.execute(store.dead_letters.insert(), [_letter(n, NOW - 9 * DAY) for n in range(3)])
        conn.execute(store.dead_letters.insert(), [_letter(100, NOW)])
        conn.execute(store.job_runs.insert(), [_run(NOW - (40 + n) * DAY) for n in range(3)])
    told: list[str] = []
    counts = delete_expired(engine, 1, now_ms=NOW, batch_rows=2, progress=told.append)
    assert counts == {"before": NOW - DAY, "events": 7, "dead_letters": 3, "job_runs": 2}
    assert len(told) == 4 + 2 + 2  # a full batch is followed by one more look
    with engine.connect() as conn:  # the newest run of the job stays: it says when it is due
        kept = conn.execute(sa.select(store.job_runs.c.finished_at)).scalars().all()
    assert kept == [NOW - 42 * DAY]
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.events.c.message_id)).scalars().all() == ["m-100"]
        assert conn.execute(sa.select(store.dead_letters.c.fingerprint)).scalars().all() == [
            "f-100"
        ]
