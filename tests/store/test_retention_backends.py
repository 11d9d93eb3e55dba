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


def test_expired_rows_are_deleted_in_batches_on_every_backend(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(store.events.insert(), [_event(n, NOW - (5 + n) * DAY) for n in range(7)])
        conn.execute(store.events.insert(), [_event(100, NOW)])
        conn.execute(store.dead_letters.insert(), [_letter(n, NOW - 9 * DAY) for n in range(3)])
        conn.execute(store.dead_letters.insert(), [_letter(100, NOW)])
    told: list[str] = []
    counts = delete_expired(engine, 1, now_ms=NOW, batch_rows=2, progress=told.append)
    assert counts == {"before": NOW - DAY, "events": 7, "dead_letters": 3}
    assert len(told) == 4 + 2
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.events.c.message_id)).scalars().all() == ["m-100"]
        assert conn.execute(sa.select(store.dead_letters.c.fingerprint)).scalars().all() == [
            "f-100"
        ]
