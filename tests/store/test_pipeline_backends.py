"""Ingestion, dedupe, dead letters and profile stitching on every store backend."""

from __future__ import annotations

from datetime import UTC, datetime

from shopwise.runtime import Runtime
from shopwise.settings import Settings


def _event(mid: str, **fields: object) -> dict[str, object]:
    return {
        "message_id": mid,
        "type": "product_viewed",
        "timestamp": datetime(2026, 3, 1, tzinfo=UTC).isoformat(),
        "properties": {"product_id": "p1"},
        **fields,
    }


def test_ingest_dedupe_dead_letters_and_stitching(backend_settings: Settings) -> None:
    runtime = Runtime.build(backend_settings, migrate=True)
    runtime.start()
    try:
        batch = [
            _event("m1", anonymous_id="a1"),
            _event("m2", anonymous_id="a1"),
            _event("m3", anonymous_id="a1", type="nope"),
        ]
        first = runtime.collector.ingest(batch)
        assert (first.accepted, first.duplicates, len(first.rejected)) == (2, 0, 1)
        again = runtime.collector.ingest(batch)
        assert (again.accepted, again.duplicates) == (0, 2)
        assert len(runtime.dead_letters.list()) == 1
        login = runtime.collector.ingest([_event("m4", anonymous_id="a1", user_id="u1")])
        assert runtime.bus.wait_until_consumed(login.last_event_id, timeout=30)
        view = runtime.profiles.get("u1")
        assert view is not None and view.anonymous_ids == ["a1"]
        assert view.state.counts["product_viewed"] == 3
        assert runtime.profiles.canonical("a1") == view.profile_id
    finally:
        runtime.stop()
