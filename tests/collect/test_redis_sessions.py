"""Session state in Redis: two processes continue one shopper's sessions as one process would.

Marked ``services`` and skipped without ``SHOPWISE_TEST_REDIS_URL`` (db 15); each case writes
under a prefix of its own, deleted afterwards.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import sqlalchemy as sa
from tests._proxy import Proxy

from shopwise import store
from shopwise.collect import RedisSessionizer, Sessionizer
from shopwise.runtime import Runtime
from shopwise.settings import Settings

pytestmark = pytest.mark.services

IDLE_MINUTES = 30
MINUTE = 60_000
SALT = b"0123456789abcdef"


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"test-sessions-{uuid.uuid4().hex[:10]}"
    yield name
    with redis.Redis.from_url(redis_url) as client:
        keys = list(client.scan_iter(match=f"{name}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url) as opened:
        yield opened


def _shared(client: redis.Redis, prefix: str, **options: Any) -> RedisSessionizer:
    return RedisSessionizer(IDLE_MINUTES, client=client, salt=SALT, prefix=prefix, **options)


def _visits(rng: np.random.Generator, shoppers: int = 5, events: int = 200) -> list[dict[str, Any]]:
    """Events of a few shoppers over a day: mostly minutes apart, now and then an idle gap
    longer than a session's, and some arriving late (before their shopper's latest)."""
    rows = []
    clock = dict.fromkeys(range(shoppers), 1_775_000_000_000)
    for _ in range(events):
        shopper = int(rng.integers(shoppers))
        step = rng.choice([2, 10, 45, 200]) * MINUTE
        clock[shopper] += int(step * rng.random())
        late = int(rng.random() < 0.1) * int(rng.integers(60)) * MINUTE
        known = rng.random() < 0.5
        rows.append(
            {
                "anonymous_id": f"a{shopper}" if known else None,
                "user_id": f"u{shopper}" if not known else None,
                "timestamp": clock[shopper] - late,
            }
        )
    return rows


def _batches(rng: np.random.Generator, rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    cuts = sorted(set(rng.integers(1, len(rows), size=len(rows) // 8).tolist()))
    return [rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]


def _copy(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(row) for row in batch]


def test_two_processes_give_the_sessions_one_process_would(
    client: redis.Redis, prefix: str, rng: np.random.Generator
) -> None:
    batches = _batches(rng, _visits(rng))
    one = Sessionizer(IDLE_MINUTES)
    shared = (_shared(client, prefix), _shared(client, prefix))
    apart = (Sessionizer(IDLE_MINUTES), Sessionizer(IDLE_MINUTES))
    expected: list[str] = []
    got: list[str] = []
    split: list[str] = []
    for n, batch in enumerate(batches):  # each batch reaches one of two servers
        for sessionizer, out in ((one, expected), (shared[n % 2], got), (apart[n % 2], split)):
            rows = _copy(batch)
            sessionizer.assign(rows)
            out += [row["session_id"] for row in rows]
    assert got == expected
    # what the shared state prevents: each server alone splits visits into more sessions
    assert len(set(split)) > len(set(expected))


def test_redis_holds_digests_and_timestamps_that_expire(client: redis.Redis, prefix: str) -> None:
    sessionizer = _shared(client, prefix)
    rows = [
        {"anonymous_id": "visitor-7", "user_id": None, "timestamp": 1_775_000_000_000},
        {"anonymous_id": "visitor-7", "user_id": None, "timestamp": 1_775_000_060_000},
    ]
    sessionizer.assign(rows)
    [key] = client.scan_iter(match=f"{prefix}:*")
    assert key.decode() == sessionizer.key_of("visitor-7")
    assert b"visitor-7" not in key  # a keyed digest names it
    assert client.hgetall(key) == {
        b"start": b"1775000000000",
        b"first": b"1775000000000",
        b"last": b"1775000060000",
    }
    assert 0 < client.pttl(key) <= sessionizer.ttl_ms == 2 * IDLE_MINUTES * MINUTE


def test_redis_unreachable_assigns_in_process_then_shares_again(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    kwargs = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    proxy = Proxy((str(kwargs["host"]), int(kwargs["port"])))
    now = [0.0]
    with redis.Redis.from_url(
        proxy.url("redis", f"/{kwargs['db']}"), socket_timeout=1, socket_connect_timeout=1
    ) as via:
        sessionizer = _shared(via, prefix, clock=lambda: now[0], retry_seconds=5)
        start = 1_775_000_000_000
        row: dict[str, Any] = {"anonymous_id": "v", "user_id": None, "timestamp": start}
        try:
            sessionizer.assign([dict(row)])
            assert sessionizer.shared
            proxy.cut()
            with caplog.at_level(logging.WARNING, logger="shopwise.collect"):
                for minute in (1, 2):
                    later = {**row, "timestamp": start + minute * MINUTE}
                    sessionizer.assign([later])
                    assert later["session_id"]  # never refused for want of Redis
                assert not sessionizer.shared
                proxy.restore()
                now[0] = 5.0  # the retry delay has passed: Redis is asked again
                back = {**row, "timestamp": start + 3 * MINUTE}
                sessionizer.assign([back])
            assert sessionizer.shared
            first = {**row}
            Sessionizer(IDLE_MINUTES).assign([first])
            assert back["session_id"] == first["session_id"]  # Redis kept the open session
            messages = [record.getMessage() for record in caplog.records]
            assert sum("redis unreachable" in m for m in messages) == 1
            assert sum("shared again" in m for m in messages) == 1
        finally:
            proxy.close()


def test_runtimes_on_one_redis_continue_each_others_sessions(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", log_level="WARNING", redis_url=redis_url, redis_prefix=prefix
    )
    runtimes = [Runtime.build(settings, migrate=True), Runtime.build(settings)]
    for runtime in runtimes:
        runtime.writer.start()
    try:
        for minute in range(6):
            event = {
                "message_id": uuid.uuid4().hex,
                "type": "page_viewed",
                "anonymous_id": "visitor",
                "timestamp": f"2026-04-01T09:{minute * 5:02d}:00+00:00",
            }
            assert runtimes[minute % 2].collector.ingest([event]).accepted == 1
    finally:
        for runtime in runtimes:
            runtime.writer.stop()
            runtime.engine.dispose()
    with runtimes[0].engine.connect() as conn:
        sessions = set(conn.execute(sa.select(store.events.c.session_id)).scalars())
    assert len(sessions) == 1
