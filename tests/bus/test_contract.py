"""The bus contract, run against every bus: the embedded one and the one on Redis Streams.

Every case builds its buses on its own copy of a migrated SQLite store. The Redis cases are
marked ``services`` and skipped without ``SHOPWISE_TEST_REDIS_URL``; they only ever touch db 15,
under a key prefix of their own, so they never disturb other users of that server. Faults the
Redis bus must survive (a consumer process killed mid-batch, Redis unreachable or losing its
data, a stream at its cap, two processes sharing a consumer) have cases of their own below.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from shopwise import store
from shopwise.bus import (
    Bus,
    EmbeddedBus,
    RedisBusConfig,
    RedisStreamBus,
    StoredEvent,
    partition_of,
    shopper_key,
)
from shopwise.profiles._identity import event_key
from shopwise.settings import Settings

PARTITIONS = 4
BUSES = ["embedded", pytest.param("redis", marks=pytest.mark.services)]
Shopper = tuple[str | None, str | None]
"""(anonymous id, user id)."""


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated store, copied by each case (migrating per case costs more than the case)."""
    data_dir = tmp_path_factory.mktemp("template")
    engine = store.create_engine(Settings(data_dir=data_dir))
    store.upgrade(engine)
    engine.dispose()
    return data_dir / "shopwise.db"


@pytest.fixture
def settings(tmp_path: Path, template_db: Path) -> Settings:
    shutil.copy(template_db, tmp_path / "shopwise.db")
    return Settings(data_dir=tmp_path, log_level="WARNING")


@pytest.fixture
def engine(settings: Settings) -> Iterator[sa.Engine]:
    engine = store.create_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    name = f"test-bus-{uuid.uuid4().hex[:10]}"
    yield name
    _forget(redis_url, name)


BUS_KEYS = ("events", "relay", "lease", "members", "acked")
"""What the Redis bus keeps under its prefix (nothing else of the prefix is touched)."""


def _forget(url: str, prefix: str) -> None:
    """Delete the bus's keys under ``prefix``: what a Redis restart without persistence leaves."""
    client = redis.Redis.from_url(url)
    try:
        keys = [k for part in BUS_KEYS for k in client.scan_iter(match=f"{prefix}:{part}:*")]
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _config(url: str, prefix: str, **fields: Any) -> RedisBusConfig:
    defaults: dict[str, Any] = {
        "prefix": prefix,
        "partitions": PARTITIONS,
        "lease_seconds": 1.0,
        "poll_seconds": 0.01,
        "retry_seconds": 0.1,
    }
    return RedisBusConfig(url=url, **{**defaults, **fields})


BusFactory = Callable[..., Bus]


@pytest.fixture(params=BUSES)
def make_bus(request: pytest.FixtureRequest, engine: sa.Engine) -> Iterator[BusFactory]:
    """Builds buses of the case's kind over one store (and one Redis prefix); stops them all."""
    built: list[Bus] = []
    if request.param == "redis":
        url, name = request.getfixturevalue("redis_url"), request.getfixturevalue("prefix")

        def build(**fields: Any) -> Bus:
            return RedisStreamBus(engine, _config(url, name, **fields))
    else:

        def build(**fields: Any) -> Bus:
            return EmbeddedBus(engine, poll_seconds=0.01)

    def tracked(**fields: Any) -> Bus:
        bus = build(**fields)
        built.append(bus)
        return bus

    yield tracked
    for bus in built:
        bus.stop()


class Recorder:
    """A handler that records what it is handed, optionally failing or slowing down.

    ``batches`` holds every batch handed over; ``events`` only those of batches that returned
    (a raising handler's effects roll back, as the profiles consumer's transaction does).
    """

    def __init__(
        self, fail_first: int = 0, delay: float = 0.0, ignore: frozenset[str] = frozenset()
    ) -> None:
        self.lock = threading.Lock()
        self.events: list[StoredEvent] = []
        self.batches: list[list[int]] = []
        self.fail_first = fail_first
        self.delay = delay
        self.ignore = ignore

    def __call__(self, batch: Sequence[StoredEvent]) -> None:
        with self.lock:
            self.batches.append([e.id for e in batch])
            failing = len(self.batches) <= self.fail_first
        if self.delay:
            time.sleep(self.delay)
        if failing:
            raise RuntimeError("the handler failed (as the test asked)")
        with self.lock:
            self.events.extend(batch)

    @property
    def ids(self) -> list[int]:
        with self.lock:
            return [e.id for e in self.events]

    def by_shopper(self) -> dict[str, list[int]]:
        with self.lock:
            out: dict[str, list[int]] = defaultdict(list)
            for event in self.events:
                out[shopper_key(event.anonymous_id, event.user_id)].append(event.id)
            return out


def _shoppers(n: int) -> list[Shopper]:
    """Anonymous shoppers, some of them known (a user id as well)."""
    return [(f"anon{i}", f"user{i}" if i % 3 == 0 else None) for i in range(n)]


def _insert(
    engine: sa.Engine, shoppers: Sequence[Shopper], kind: str = "product_viewed"
) -> list[int]:
    """Commit one event per entry of ``shoppers`` (in that order); their ids."""
    now = int(time.time() * 1000)
    rows = [
        {
            "message_id": uuid.uuid4().hex,
            "type": kind,
            "anonymous_id": anonymous_id,
            "user_id": user_id,
            "session_id": None,
            "timestamp": now,
            "received_at": now,
            "product_id": "p1",
            "context": {},
            "properties": {"product_id": "p1"},
            "key_id": None,
        }
        for anonymous_id, user_id in shoppers
    ]
    ids: list[int] = []
    with store.write_transaction(engine) as conn:
        for row in rows:
            key = conn.execute(store.events.insert().values(**row)).inserted_primary_key
            assert key is not None
            ids.append(int(key[0]))
    return ids


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- the contract, every bus ------------------------------------------------------------------


def test_the_partition_key_is_the_profile_key() -> None:
    """The Redis bus keeps order per profile key; it must be the key profiles attribute by."""
    for anonymous_id, user_id in [("a1", None), ("a1", "u1"), (None, "u2")]:
        assert shopper_key(anonymous_id, user_id) == event_key(anonymous_id, user_id)
    assert partition_of("u:u1", 8) == partition_of("u:u1", 8)
    assert {partition_of(f"a:{i}", 8) for i in range(100)} == set(range(8))


def test_every_committed_event_is_delivered_and_acknowledged(
    make_bus: BusFactory, engine: sa.Engine
) -> None:
    ids = _insert(engine, _shoppers(12) * 5)
    recorder = Recorder()
    bus = make_bus()
    bus.subscribe("c", recorder, batch_size=7)
    bus.start()
    assert bus.wait_until_consumed(ids[-1], timeout=10)
    assert bus.position("c") == ids[-1]
    assert set(recorder.ids) == set(ids)
    assert not bus.wait_until_consumed(ids[-1] + 1, timeout=0.1)


def test_each_shoppers_events_arrive_in_order(make_bus: BusFactory, engine: sa.Engine) -> None:
    """Events committed while the consumer runs, interleaved across shoppers, reach it in id
    order per shopper (the profiles' watermark skips an older event after a newer one)."""
    recorder = Recorder()
    bus = make_bus()
    bus.subscribe("c", recorder, batch_size=3)
    bus.start()
    ids: list[int] = []
    for _round in range(6):
        ids += _insert(engine, _shoppers(9))
        bus.publish([])
        time.sleep(0.02)
    assert bus.wait_until_consumed(ids[-1], timeout=10)
    assert set(recorder.ids) == set(ids)
    for shopper, seen in recorder.by_shopper().items():
        assert seen == sorted(set(seen)), shopper


def test_ignored_types_are_skipped_but_passed(make_bus: BusFactory, engine: sa.Engine) -> None:
    kept = _insert(engine, _shoppers(4))
    skipped = _insert(engine, _shoppers(4), kind="recommendation_viewed")
    recorder = Recorder()
    bus = make_bus()
    bus.subscribe("picky", recorder, batch_size=3, ignore=frozenset({"recommendation_viewed"}))
    bus.start()
    assert bus.wait_until_consumed(skipped[-1], timeout=10)
    assert bus.position("picky") == skipped[-1]
    assert sorted(recorder.ids) == kept


def test_a_restarted_bus_resumes_where_it_stopped(make_bus: BusFactory, engine: sa.Engine) -> None:
    first = _insert(engine, _shoppers(10))
    before = Recorder()
    bus = make_bus()
    bus.subscribe("c", before)
    bus.start()
    assert bus.wait_until_consumed(first[-1], timeout=10)
    bus.stop()
    second = _insert(engine, _shoppers(10))
    after = Recorder()
    again = make_bus()
    again.subscribe("c", after)
    again.start()
    assert again.wait_until_consumed(second[-1], timeout=10)
    assert sorted(after.ids) == second
    assert again.position("c") == second[-1]


def test_a_failing_handler_gets_its_batch_again(make_bus: BusFactory, engine: sa.Engine) -> None:
    """At least once: a batch whose handler raised is handed over again before later events."""
    ids = _insert(engine, _shoppers(6) * 2)
    recorder = Recorder(fail_first=1)
    bus = make_bus(retry_seconds=0.05)
    bus.subscribe("c", recorder, batch_size=4)
    bus.start()
    assert bus.wait_until_consumed(ids[-1], timeout=10)
    failed, retried = recorder.batches[0], recorder.batches[1]
    assert set(failed) <= set(retried)
    assert set(recorder.ids) == set(ids)
    for shopper, seen in recorder.by_shopper().items():
        assert seen == sorted(set(seen)), shopper


# -- the Redis bus's faults -------------------------------------------------------------------

_WORKER = """
import json, os, sys, time
from shopwise import store
from shopwise.bus import RedisBusConfig, RedisStreamBus, partition_of, shopper_key
from shopwise.settings import Settings

data_dir, out, config, hang = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
engine = store.create_engine(Settings(data_dir=data_dir))
bus = RedisStreamBus(engine, RedisBusConfig(**config))

def handle(batch):
    parts = sorted({partition_of(shopper_key(e.anonymous_id, e.user_id), config["partitions"])
                    for e in batch})
    with open(out, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "ids": [e.id for e in batch], "parts": parts,
                            "at": time.time(), "end": False}) + "\\n")
    if hang == "hang":
        time.sleep(3600)
    time.sleep(0.05)
    with open(out, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "parts": parts, "at": time.time(),
                            "end": True}) + "\\n")

bus.subscribe("c", handle, batch_size=5)
bus.start()
while True:
    time.sleep(1)
"""


def _spawn(
    settings: Settings, out: Path, config: RedisBusConfig, hang: bool
) -> subprocess.Popen[bytes]:
    args = [str(settings.data_dir), str(out), config.model_dump_json(), "hang" if hang else "run"]
    return subprocess.Popen([sys.executable, "-c", _WORKER, *args])


def _records(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]


@pytest.mark.services
def test_a_killed_consumers_batch_is_claimed_and_handled_again(
    settings: Settings, engine: sa.Engine, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    """kill -9 a consumer process mid-batch: another process claims its pending entries once
    they are idle longer than a lease and handles them first, so nothing is lost or reordered."""
    config = _config(redis_url, prefix)
    ids = _insert(engine, _shoppers(8) * 4)
    out = tmp_path / "killed.jsonl"
    process = _spawn(settings, out, config, hang=True)
    try:
        assert _wait_for(lambda: bool(_records(out)), timeout=20)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    abandoned = _records(out)[0]["ids"]
    recorder = Recorder()
    bus = RedisStreamBus(engine, config)
    bus.subscribe("c", recorder, batch_size=5)
    bus.start()
    try:
        assert bus.wait_until_consumed(ids[-1], timeout=15)
        assert set(abandoned) <= set(recorder.ids)
        assert set(recorder.ids) == set(ids)
        for shopper, seen in recorder.by_shopper().items():
            assert seen == sorted(seen), shopper
    finally:
        bus.stop()


@pytest.mark.services
def test_two_processes_share_partitions_never_the_same_one_at_once(
    settings: Settings, engine: sa.Engine, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    config = _config(redis_url, prefix)
    out = tmp_path / "shared.jsonl"
    processes = [_spawn(settings, out, config, hang=False) for _ in range(2)]
    watcher = RedisStreamBus(engine, config)
    watcher.subscribe("c", lambda _batch: None)  # never started: it watches the positions
    try:
        ids: list[int] = []
        deadline, rounds = time.monotonic() + 20, 0
        while time.monotonic() < deadline and (
            rounds < 15 or len({r["pid"] for r in _records(out)}) < 2
        ):
            ids += _insert(engine, _shoppers(40))
            rounds += 1
            time.sleep(0.1)
        assert watcher.wait_until_consumed(ids[-1], timeout=15)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
    records = _records(out)
    assert {r["pid"] for r in records} == {p.pid for p in processes}
    handled = {i for r in records if not r["end"] for i in r["ids"]}
    assert handled == set(ids)
    spans: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    open_at: dict[int, float] = {}
    for record in records:
        if not record["end"]:
            open_at[record["pid"]] = record["at"]
            continue
        for part in record["parts"]:
            spans[part].append((open_at[record["pid"]], record["at"], record["pid"]))
    for part, intervals in spans.items():
        intervals.sort()
        for (_s1, end, pid1), (start, _e2, pid2) in itertools.pairwise(intervals):
            assert pid1 == pid2 or start >= end, f"partition {part} handled by two at once"


@pytest.mark.services
def test_back_pressure_holds_events_in_the_table_and_loses_none(
    engine: sa.Engine, redis_url: str, prefix: str
) -> None:
    cap = 5
    config = _config(redis_url, prefix, partitions=2, stream_cap=cap, batch_size=50)
    client = redis.Redis.from_url(redis_url)
    longest = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal longest
        while not stop.is_set():
            longest = max([longest, *(int(client.xlen(f"{prefix}:events:{k}")) for k in range(2))])
            time.sleep(0.005)

    ids = _insert(engine, _shoppers(10) * 8)
    recorder = Recorder(delay=0.01)
    bus = RedisStreamBus(engine, config)
    bus.subscribe("c", recorder, batch_size=2)
    sampler = threading.Thread(target=sample)
    sampler.start()
    bus.start()
    try:
        assert bus.wait_until_consumed(ids[-1], timeout=20)
        assert set(recorder.ids) == set(ids)
        assert 0 < longest <= cap
    finally:
        stop.set()
        sampler.join()
        bus.stop()
        client.close()


@pytest.mark.services
def test_events_accepted_while_redis_is_away_are_relayed_when_it_returns(
    engine: sa.Engine, redis_url: str, prefix: str
) -> None:
    """The store accepts events while Redis is unreachable; a bus pointed at it makes no
    progress and does not fail; the relay hands every event over once Redis answers."""
    away = _config("redis://127.0.0.1:1/15", prefix)
    idle = Recorder()
    unreachable = RedisStreamBus(engine, away)
    unreachable.subscribe("c", idle)
    unreachable.start()
    ids = _insert(engine, _shoppers(6) * 3)
    unreachable.publish([])
    try:
        assert not unreachable.wait_until_consumed(ids[-1], timeout=0.3)
    finally:
        unreachable.stop()
    assert idle.ids == []
    recorder = Recorder()
    bus = RedisStreamBus(engine, _config(redis_url, prefix))
    bus.subscribe("c", recorder)
    bus.start()
    try:
        assert bus.wait_until_consumed(ids[-1], timeout=10)
        assert set(recorder.ids) == set(ids)
    finally:
        bus.stop()


@pytest.mark.services
def test_redis_losing_its_data_replays_from_the_stored_positions(
    engine: sa.Engine, redis_url: str, prefix: str
) -> None:
    """A Redis restarted without its data: the relay finds no cursor and starts again from
    the smallest stored position; events after it come again (idempotent consumers), none lost."""
    recorder = Recorder()
    bus = RedisStreamBus(engine, _config(redis_url, prefix))
    bus.subscribe("c", recorder)
    bus.start()
    try:
        first = _insert(engine, _shoppers(6))
        bus.publish([])
        assert bus.wait_until_consumed(first[-1], timeout=10)
        assert _wait_for(lambda: _stored(engine, "c") == first[-1], timeout=5)
        _forget(redis_url, prefix)
        second = _insert(engine, _shoppers(6))
        bus.publish([])
        assert bus.wait_until_consumed(second[-1], timeout=15)
        assert _wait_for(lambda: set(second) <= set(recorder.ids), timeout=10)
        assert set(recorder.ids) == set(first + second)
        assert bus.position("c") == second[-1]
    finally:
        bus.stop()


def _stored(engine: sa.Engine, consumer: str) -> int:
    query = sa.select(store.bus_offsets.c.position).where(store.bus_offsets.c.consumer == consumer)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one_or_none() or 0)


@pytest.mark.services
def test_the_runtime_runs_profiles_on_the_redis_bus_when_a_redis_url_is_set(
    settings: Settings, redis_url: str
) -> None:
    """``SHOPWISE_REDIS_URL`` alone switches the bus; profiles fold every event exactly once."""
    from datetime import UTC, datetime

    from shopwise.runtime import Runtime

    _forget(redis_url, "shopwise")  # the runtime's prefix: a stale cursor would skip events
    with_redis = Settings(data_dir=settings.data_dir, log_level="WARNING", redis_url=redis_url)
    runtime = Runtime.build(with_redis, migrate=True)
    assert isinstance(runtime.bus, RedisStreamBus)
    runtime.start()
    try:
        views = {f"shopper{i}": 3 + i for i in range(3)}
        batch = [
            {
                "message_id": uuid.uuid4().hex,
                "type": "product_viewed",
                "anonymous_id": shopper,
                "timestamp": datetime.now(UTC).isoformat(),
                "properties": {"product_id": f"p{n}"},
            }
            for shopper, count in views.items()
            for n in range(count)
        ]
        result = runtime.collector.ingest(batch)
        assert result.accepted == len(batch)
        assert runtime.bus.wait_until_consumed(result.last_event_id, timeout=10)
        for shopper, count in views.items():
            view = runtime.profiles.get(shopper)
            assert view is not None
            assert view.state.events == count
    finally:
        runtime.stop()
        _forget(redis_url, "shopwise")
