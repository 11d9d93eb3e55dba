"""Server-side sessionisation: a new session after the idle gap, ids stored on events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from tests.collect.conftest import EventFactory

from shopwise import store
from shopwise.collect import Sessionizer
from shopwise.runtime import Runtime

T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)


def _at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def test_idle_gap_starts_a_new_session(runtime: Runtime, make_event: EventFactory) -> None:
    batch = [
        make_event(anonymous_id="v1", timestamp=_at(0)),
        make_event(anonymous_id="v1", timestamp=_at(20)),
        make_event(anonymous_id="v1", timestamp=_at(49)),  # 29 min after the previous one
        make_event(anonymous_id="v1", timestamp=_at(90)),  # 41 min idle: a new session
        make_event(anonymous_id="v2", timestamp=_at(21)),
    ]
    assert runtime.collector.ingest(batch).accepted == 5
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            sa.select(store.events.c.anonymous_id, store.events.c.session_id).order_by(
                store.events.c.timestamp
            )
        ).all()
    sessions = [r.session_id for r in rows if r.anonymous_id == "v1"]
    assert sessions[0] == sessions[1] == sessions[2] != sessions[3]
    other = [r.session_id for r in rows if r.anonymous_id == "v2"]
    assert other[0] not in sessions


def test_idle_minutes_is_configurable() -> None:
    rows = [
        {"anonymous_id": "a", "user_id": None, "timestamp": 0},
        {"anonymous_id": "a", "user_id": None, "timestamp": 6 * 60_000},
    ]
    Sessionizer(idle_minutes=5).assign(rows)
    assert rows[0]["session_id"] != rows[1]["session_id"]
    Sessionizer(idle_minutes=10).assign(rows)
    assert rows[0]["session_id"] == rows[1]["session_id"]


def test_session_ids_carry_across_batches(runtime: Runtime, make_event: EventFactory) -> None:
    runtime.collector.ingest([make_event(anonymous_id="v3", timestamp=_at(0))])
    runtime.collector.ingest([make_event(anonymous_id="v3", timestamp=_at(10))])
    with runtime.engine.connect() as conn:
        ids = set(conn.execute(sa.select(store.events.c.session_id)).scalars())
    assert len(ids) == 1
