"""Changes announced through Redis pub/sub reach another process without waiting for its polls.

Two runtimes on one store stand for two server processes. The listening one runs only its
change listener, none of its polling threads, and its polls are far longer than the waits here
(or, for rules, timed against): whatever it sees, the message told it. Marked ``services`` and
skipped without ``SHOPWISE_TEST_REDIS_URL`` (db 15); the keys of each case's prefix are deleted
after it (pub/sub itself keeps none).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.conftest import REDIS_DB

from shopwise._redis_events import AnnouncedCatalog, Changes
from shopwise.auth import KeyKind
from shopwise.errors import AuthError
from shopwise.runtime import Runtime
from shopwise.settings import Settings

pytestmark = pytest.mark.services

HEARD_WITHIN = 2.0
"""Seconds a message may take to arrive on a loaded machine (it takes milliseconds)."""


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Iterator[Settings]:
    prefix = f"test-changes-{uuid.uuid4().hex[:10]}"
    yield Settings(
        data_dir=tmp_path / "var",
        log_level="WARNING",
        redis_url=redis_url,
        redis_prefix=prefix,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def pair(settings: Settings) -> Iterator[tuple[Runtime, Runtime]]:
    """(writer, listener): the writer is started in full, the listener only hears changes."""
    writer = Runtime.build(settings, migrate=True)
    listener = Runtime.build(settings)
    assert writer.changes is not None and listener.changes is not None
    writer.start()
    listener.changes.start()
    assert listener.changes.connected.wait(5)
    try:
        yield writer, listener
    finally:
        listener.changes.stop()
        writer.stop()
        listener.engine.dispose()


def _heard(runtime: Runtime, before: int) -> None:
    assert runtime.changes is not None
    deadline = time.monotonic() + HEARD_WITHIN
    while runtime.changes.heard <= before:
        assert time.monotonic() < deadline, "the announcement never arrived"
        time.sleep(0.005)


def _heard_count(runtime: Runtime) -> int:
    assert runtime.changes is not None
    return runtime.changes.heard


def test_a_rule_change_is_live_in_the_other_process_before_its_check(
    pair: tuple[Runtime, Runtime],
) -> None:
    writer, listener = pair
    assert listener.rules.live().version == 0  # read now: not looked at again for a second
    primed = time.monotonic()
    before = _heard_count(listener)
    stored = writer.rules.put(writer.rules.live().body, key_id=None)
    _heard(listener, before)
    assert listener.rules.live().version == stored.version
    assert time.monotonic() - primed < 1.0, "too slow to tell the message from the poll"


def test_a_content_change_reaches_the_other_process(pair: tuple[Runtime, Runtime]) -> None:
    writer, listener = pair
    assert listener.content.live().version == 0
    before = _heard_count(listener)
    stored = writer.content.put(writer.content.live().body, key_id=None)
    _heard(listener, before)
    assert listener.content.live().version == stored.version


def test_a_catalog_write_reaches_the_other_snapshot(pair: tuple[Runtime, Runtime]) -> None:
    writer, listener = pair
    assert isinstance(listener.catalog, AnnouncedCatalog)
    assert listener.catalog.snapshot() == {}  # next look at the store: in thirty seconds
    before = _heard_count(listener)
    writer.catalog.upsert([{"id": "p-new", "title": "New", "price": 9.5}])
    _heard(listener, before)
    assert "p-new" in listener.catalog.snapshot()


def test_a_key_revoked_in_one_process_is_refused_by_the_other(
    pair: tuple[Runtime, Runtime],
) -> None:
    writer, listener = pair
    key, plaintext = writer.keys.create(KeyKind.SECRET)
    assert listener.keys.verify(plaintext).id == key.id  # cached for seconds from now on
    before = _heard_count(listener)
    writer.keys.revoke(key.id)
    _heard(listener, before)
    with pytest.raises(AuthError):
        listener.keys.verify(plaintext)


def _view(anonymous_id: str, user_id: str) -> dict[str, Any]:
    return {
        "message_id": uuid.uuid4().hex,
        "type": "product_viewed",
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "properties": {"product_id": "p1"},
    }


def test_an_erasure_reaches_the_other_process_at_once(pair: tuple[Runtime, Runtime]) -> None:
    writer, listener = pair
    cleared = threading.Event()
    listener.rights.add_cache("probe", clear=cleared.set)
    stored = writer.collector.ingest([_view("a-gone", "u-gone")])
    assert writer.bus.wait_until_consumed(stored.last_event_id, timeout=20)
    writer.rights.request_erasure("u-gone", "test")
    [done] = writer.rights.run_pending()
    assert done["status"] == "verified"
    # the listener's erasure poll never runs here: only the message can have purged it
    assert cleared.wait(HEARD_WITHIN)
    assert listener.rights.catch_up() == 0  # already caught up


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_without_redis_writes_go_on_and_the_outage_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    changes = Changes(f"redis://127.0.0.1:{_closed_port()}/{REDIS_DB}", "down")
    looked: list[str] = []
    react: Callable[[], None] = lambda: looked.append("rules")  # noqa: E731
    changes.on("rules", react)
    with caplog.at_level(logging.WARNING, logger="shopwise.changes"):
        changes.announce("rules")
        changes.announce("rules")
        changes.start()
        time.sleep(0.3)
        changes.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("could not announce" in m for m in messages) == 1
    assert sum("change channel lost" in m for m in messages) == 1
    assert looked == []  # never connected: nothing heard, the polls carry on


def test_a_listener_looks_at_every_topic_when_it_connects(redis_url: str) -> None:
    changes = Changes(redis_url, f"test-changes-{uuid.uuid4().hex[:10]}")
    looked = threading.Event()
    changes.on("keys", looked.set)
    changes.start()
    try:
        assert looked.wait(5)  # a message missed while away is made up for
    finally:
        changes.stop()
