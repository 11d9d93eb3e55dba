"""Redis unreachable or restarted under a running API: events stay durable, serving and rate limits
go on in process, and the bus catches up when Redis is back.

A TCP proxy stands between shopwise and the test's Redis (db 15); cutting it drops every
connection and refuses new ones, as an unreachable or restarting server does, without touching
the server other tests use. ``lost`` also deletes every key of the case's prefix while the proxy
is cut: a Redis restarted without its data (no relay cursor, no consumer groups, no leases).
Restoring the proxy must be enough: no restart of shopwise. Runs on SQLite and, with
``SHOPWISE_TEST_POSTGRES_URL``, on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests._proxy import Proxy
from tests.conftest import postgres_settings

from shopwise import store
from shopwise._redis_events import Changes
from shopwise.api import create_app
from shopwise.auth import KeyKind, RedisRateLimiter
from shopwise.runtime import Runtime
from shopwise.settings import Settings

pytestmark = pytest.mark.services

SHOPPERS = [f"outage-{i}" for i in range(4)]
BURST = 3
"""The per-shopper burst of the write key (its refill is far slower than the test)."""
CATCH_UP_SECONDS = 30.0
"""How long the bus may take to find Redis again and fold the outage's events on a loaded
machine (its retries are a second apart)."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """The store's URL (``None``: SQLite in the data directory)."""
    if request.param == "sqlite":
        yield None
        return
    for settings in postgres_settings(tmp_path / "pg"):
        yield settings.database_url


@pytest.fixture
def proxied(
    tmp_path: Path, redis_url: str, database: str | None
) -> Iterator[tuple[Settings, Proxy]]:
    direct = redis.Redis.from_url(redis_url)
    kwargs = direct.connection_pool.connection_kwargs
    proxy = Proxy((str(kwargs.get("host", "127.0.0.1")), int(kwargs.get("port", 6379))))
    prefix = f"test-outage-{uuid.uuid4().hex[:10]}"
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=database,
        log_level="ERROR",
        redis_url=proxy.url("redis", f"/{kwargs['db']}"),
        redis_prefix=prefix,
        rate_limit_per_shopper_burst=BURST,
        rate_limit_per_shopper_per_second=0.001,
    )
    try:
        yield settings, proxy
    finally:
        proxy.close()
        _forget(direct, prefix)
        direct.close()


def _forget(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


def _views(count: int) -> list[dict[str, Any]]:
    return [
        {
            "message_id": uuid.uuid4().hex,
            "type": "product_viewed",
            "anonymous_id": shopper,
            "timestamp": datetime.now(UTC).isoformat(),
            "properties": {"product_id": f"p{n % 3}"},
        }
        for shopper in SHOPPERS
        for n in range(count)
    ]


def _post(client: TestClient, headers: dict[str, str], batch: list[dict[str, Any]]) -> None:
    answer = client.post("/v1/events", json={"batch": batch}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(batch)


def _stored(runtime: Runtime, batch: list[dict[str, Any]]) -> tuple[int, int]:
    """How many of ``batch``'s events are in the store, and the largest event id among them."""
    events = store.events
    query = sa.select(sa.func.count(), sa.func.max(events.c.id)).where(
        events.c.message_id.in_([event["message_id"] for event in batch])
    )
    with runtime.engine.connect() as conn:
        count, last = conn.execute(query).one()
    return int(count), int(last or 0)


def _folded(runtime: Runtime) -> dict[str, int]:
    """Each shopper's profile event count (0 without a profile)."""
    views = {shopper: runtime.profiles.get(shopper) for shopper in SHOPPERS}
    return {shopper: view.state.events if view else 0 for shopper, view in views.items()}


def _recommend(client: TestClient, headers: dict[str, str], shopper: str) -> int:
    answer = client.get(
        "/v1/recommendations",
        params={"placement": "home", "anonymous_id": shopper},
        headers=headers,
    )
    if answer.status_code == 200:
        assert answer.json()["items"], "a fallback answer is never empty"
    return answer.status_code


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class _Heard:
    """A process of its own, straight on Redis: counts the topics others announce."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.changes = Changes(redis_url, prefix)
        self.topics: list[str] = []
        self._lock = threading.Lock()
        self.changes.on("rules", lambda: self._note("rules"))

    def _note(self, topic: str) -> None:
        with self._lock:
            self.topics.append(topic)


@pytest.mark.parametrize("redis_data", ["kept", "lost"])
def test_the_api_rides_out_a_redis_outage_and_the_bus_catches_up(
    proxied: tuple[Settings, Proxy], redis_url: str, redis_data: str
) -> None:
    settings, proxy = proxied
    runtime = Runtime.build(settings, migrate=True)
    changes = runtime.changes
    assert changes is not None
    secret = {"Authorization": f"Bearer {runtime.keys.create(KeyKind.SECRET)[1]}"}
    write = {"Authorization": f"Bearer {runtime.keys.create(KeyKind.WRITE)[1]}"}
    admin = {"Authorization": f"Bearer {runtime.keys.create(KeyKind.ADMIN)[1]}"}
    runtime.catalog.upsert([{"id": f"p{i}", "title": f"P{i}", "price": 10 + i} for i in range(3)])
    heard = _Heard(redis_url, settings.redis_prefix)
    heard.changes.start()
    with TestClient(create_app(settings, runtime)) as client:
        try:
            assert changes.connected.wait(5) and heard.changes.connected.wait(5)
            before = _views(2)
            _post(client, secret, before)
            assert runtime.bus.wait_until_consumed(_stored(runtime, before)[1], timeout=10)
            assert _folded(runtime) == dict.fromkeys(SHOPPERS, 2)

            proxy.cut()
            if redis_data == "lost":
                with redis.Redis.from_url(redis_url) as direct:
                    _forget(direct, settings.redis_prefix)
            during = _views(3)
            for start in range(0, len(during), 4):  # several requests, each committed durably
                _post(client, secret, during[start : start + 4])
            assert _stored(runtime, during)[0] == len(during)
            assert all(_recommend(client, write, s) == 200 for s in SHOPPERS)
            # the write key's per-shopper limit holds in process: the shopper who had one answer
            # above gets the rest of the burst, then 429
            statuses = [_recommend(client, write, "limited") for _ in range(BURST + 1)]
            assert statuses == [200] * BURST + [429]
            limiter = runtime.limits.per_shopper
            assert isinstance(limiter, RedisRateLimiter) and not limiter.shared
            rules = client.put("/v1/rules", content=runtime.rules.live().body, headers=admin)
            assert rules.status_code == 200  # its announcement is lost; the polls carry it
            assert _until(lambda: not changes.connected.is_set(), 5)
            assert _folded(runtime) == dict.fromkeys(SHOPPERS, 2)  # the bus is really cut off

            proxy.restore()
            last = _stored(runtime, during)[1]
            assert runtime.bus.wait_until_consumed(last, timeout=CATCH_UP_SECONDS)
            expected = dict.fromkeys(SHOPPERS, 2 + 3)  # every event folded exactly once
            assert _until(lambda: _folded(runtime) == expected, 5), _folded(runtime)
            assert changes.connected.wait(5)
            announced = len(heard.topics)
            rules = client.put("/v1/rules", content=runtime.rules.live().body, headers=admin)
            assert rules.status_code == 200
            assert _until(lambda: len(heard.topics) > announced, 5), "announcements resumed"
            assert _folded(runtime) == expected  # and stay folded once
        finally:
            heard.changes.stop()
