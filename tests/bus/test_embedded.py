"""The embedded bus: named consumers over the event table, with ignored event types."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shopwise.bus import EmbeddedBus, StoredEvent
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def _event(kind: str, i: int) -> dict[str, Any]:
    props: dict[str, Any] = {"product_id": f"p{i}"}
    if kind == "recommendation_viewed":
        props = {"recommendation_id": f"r{i}", "product_ids": ["p1"], "placement": "home"}
    return {
        "message_id": uuid.uuid4().hex,
        "type": kind,
        "anonymous_id": "a1",
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": props,
    }


def test_ignored_types_are_skipped_but_passed(tmp_path: Path) -> None:
    runtime = Runtime.build(Settings(data_dir=tmp_path, environment="test"), migrate=True)
    runtime.writer.start()
    bus = EmbeddedBus(runtime.engine, poll_seconds=0.01)
    seen: list[str] = []
    lock = threading.Lock()

    def handler(batch: Sequence[StoredEvent]) -> None:
        with lock:
            seen.extend(e.type for e in batch)

    bus.subscribe("picky", handler, batch_size=3, ignore=frozenset({"recommendation_viewed"}))
    kinds = ["product_viewed", "recommendation_viewed", "recommendation_viewed"] * 3
    kinds += ["recommendation_viewed"] * 4  # a tail of ignored events only
    try:
        result = runtime.collector.ingest([_event(k, i) for i, k in enumerate(kinds)])
        assert result.accepted == len(kinds)
        bus.start()
        assert bus.wait_until_consumed(result.last_event_id, timeout=10)
        assert bus.position("picky") == result.last_event_id
        with lock:
            assert seen == ["product_viewed"] * 3
    finally:
        bus.stop()
        runtime.writer.stop()
