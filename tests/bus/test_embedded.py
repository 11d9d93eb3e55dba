"""The embedded bus: named consumers over the event table, with ignored event types."""

from __future__ import annotations

import threading
import time
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
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
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


def test_a_wide_window_still_hands_over_batches_in_order(tmp_path: Path) -> None:
    """Ignored events are scanned many batches at a time; the kept ones stay in batches."""
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    runtime.writer.start()
    bus = EmbeddedBus(runtime.engine, poll_seconds=0.01)
    batches: list[list[str]] = []

    def handler(batch: Sequence[StoredEvent]) -> None:
        batches.append([e.message_id for e in batch])

    bus.subscribe("picky", handler, batch_size=2, ignore=frozenset({"recommendation_viewed"}))
    kinds = (["product_viewed"] * 3 + ["recommendation_viewed"] * 5) * 4
    events = [_event(k, i) for i, k in enumerate(kinds)]
    kept = [e["message_id"] for e in events if e["type"] == "product_viewed"]
    try:
        result = runtime.collector.ingest(events)
        bus.start()
        assert bus.wait_until_consumed(result.last_event_id, timeout=10)
        assert bus.position("picky") == result.last_event_id
        assert all(1 <= len(batch) <= 2 for batch in batches)
        assert [m for batch in batches for m in batch] == kept
    finally:
        bus.stop()
        runtime.writer.stop()


def test_an_idle_bus_backs_off_and_still_sees_other_writers(tmp_path: Path) -> None:
    """Empty polls back off to IDLE_POLL_SECONDS; rows committed without a publish (another
    process's writer) are still consumed within that wait."""

    from shopwise.bus import _embedded

    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    runtime.writer.start()
    bus = EmbeddedBus(runtime.engine, poll_seconds=0.01)
    reads = 0
    read = bus._read

    def counting_read(consumer: Any) -> Any:
        nonlocal reads
        reads += 1
        return read(consumer)

    bus._read = counting_read  # type: ignore[method-assign]
    seen: list[str] = []
    bus.subscribe("idle", lambda batch: seen.extend(e.message_id for e in batch))
    try:
        bus.start()
        time.sleep(1.5)
        # without backing off: 150 polls; with it: about 7 to reach the cap, then 1 / 0.4 s
        assert reads < 20
        event = _event("product_viewed", 1)
        runtime.collector.ingest([event])  # this writer does not publish to `bus`
        deadline = time.monotonic() + _embedded.IDLE_POLL_SECONDS + 2.0
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert seen == [event["message_id"]]
    finally:
        bus.stop()
        runtime.writer.stop()


def _exposure_blind_bus(runtime: Runtime, batch_size: int) -> tuple[EmbeddedBus, list[int]]:
    """A bus whose one consumer ignores exposures, and the positions it stores, in order."""
    bus = EmbeddedBus(runtime.engine, poll_seconds=0.01)
    saved: list[int] = []
    save = bus._save_position

    def counting_save(consumer: Any, position: int) -> None:
        saved.append(position)
        save(consumer, position)

    bus._save_position = counting_save  # type: ignore[method-assign]
    bus.subscribe(
        "picky",
        lambda _batch: None,
        batch_size=batch_size,
        ignore=frozenset({"recommendation_viewed"}),
    )
    return bus, saved


def _stored_reaches(runtime: Runtime, event_id: int) -> bool:
    """Whether the consumer's stored offset reaches ``event_id`` (as another process sees it)."""
    watcher = EmbeddedBus(runtime.engine, poll_seconds=0.01)
    watcher.subscribe("picky", lambda _batch: None)
    return watcher.wait_until_consumed(event_id, timeout=5)


def test_skipped_windows_are_stored_once_caught_up_not_per_poll(tmp_path: Path) -> None:
    """Windows of ignored events alone move the position in memory at once; ``bus_offsets``
    is written at most every SKIPPED_SAVE_SECONDS while they flow, and when the consumer is
    caught up (a worker's offsets must reach the last event for another process waiting)."""
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    runtime.writer.start()
    bus, saved = _exposure_blind_bus(runtime, batch_size=2)
    events = [_event("recommendation_viewed", i) for i in range(200)]  # 5 windows of 40
    try:
        result = runtime.collector.ingest(events)
        bus.start()
        assert bus.wait_until_consumed(result.last_event_id, timeout=10)
        assert _stored_reaches(runtime, result.last_event_id)
        assert saved[-1] == result.last_event_id
        assert len(saved) <= 3  # the first window, maybe one a second later, the catch-up
    finally:
        bus.stop()
        runtime.writer.stop()


def test_catching_up_often_over_ignored_events_stores_the_position_once_a_second(
    tmp_path: Path,
) -> None:
    """Exposures arrive in small hand-overs many times a second; the consumer catches up after
    each one, and stores its position at most every SKIPPED_SAVE_SECONDS, not per hand-over,
    yet the stored position still reaches the last event once they stop."""
    runtime = Runtime.build(Settings(data_dir=tmp_path), migrate=True)
    runtime.writer.start()
    bus, saved = _exposure_blind_bus(runtime, batch_size=500)
    last = 0
    try:
        bus.start()
        for hand_over in range(10):
            events = [_event("recommendation_viewed", hand_over * 5 + i) for i in range(5)]
            last = runtime.collector.ingest(events).last_event_id
            assert bus.wait_until_consumed(last, timeout=5)  # caught up, in memory
            time.sleep(0.05)
        assert _stored_reaches(runtime, last)
        assert saved[-1] == last
        assert len(saved) <= 3  # one for the first hand-over, then one a second at most
    finally:
        bus.stop()
        runtime.writer.stop()
