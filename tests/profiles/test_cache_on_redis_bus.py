"""Regression: on the Redis bus, an API process that does not hold the profile consumer's
partition served a shopper's cached profile (or "no profile yet") for the write-through ttl after
its own accepted events were folded by another process.

Every process started with consumers on Redis Streams took its profile cache as written through,
but only the lease holder folds (one partition by default): the others ignored the events they
stored and kept their entries for the long ttl. They must treat profile states as written
elsewhere (short ttl, ids they store read uncached while the fold lands), as with a separate
``shopwise worker``. Marked ``services`` and skipped without ``SHOPWISE_TEST_REDIS_URL`` (db 15).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from shopwise.profiles import LOCAL_TTL
from shopwise.runtime import Runtime
from shopwise.settings import Settings

pytestmark = pytest.mark.services

SEEN_WITHIN = 3.0
"""Seconds the other process may take to fold the event on a loaded machine."""


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Iterator[Settings]:
    prefix = f"test-profile-cache-{uuid.uuid4().hex[:10]}"
    yield Settings(
        data_dir=tmp_path / "var", log_level="WARNING", redis_url=redis_url, redis_prefix=prefix
    )
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)


def _view(anonymous_id: str) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": anonymous_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": "p1"},
    }


def test_a_process_without_the_partition_sees_the_fold_of_its_own_events(
    settings: Settings,
) -> None:
    holder = Runtime.build(settings, migrate=True)
    holder.start()
    other = Runtime.build(settings)
    try:
        warm = holder.collector.ingest([_view("warm")])
        assert holder.bus.wait_until_consumed(warm.last_event_id, timeout=10)  # holds the lease
        other.start()
        assert other.profiles.current("shopper") is None  # cached: no profile yet
        stored = other.collector.ingest([_view("shopper")])
        assert other.bus.wait_until_consumed(stored.last_event_id, timeout=10)
        deadline = time.monotonic() + SEEN_WITHIN
        while other.profiles.current("shopper") is None:
            assert time.monotonic() < deadline, f"stale for up to {LOCAL_TTL} s"
            time.sleep(0.05)
    finally:
        other.stop()
        holder.stop()
