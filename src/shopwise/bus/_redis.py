"""The Redis Streams bus: the event table stays the log, Redis carries it to consumer groups.

``publish`` only wakes the relay. The relay (one process at a time, under a lease in Redis) reads
committed events after its cursor from the event table in id order and XADDs each to one of
``partitions`` streams, chosen by a stable hash of the shopper key (user id, else anonymous id:
the key profiles attribute an event to). Entries carry the event id (as the entry id) and type
only: the event itself is read back from the table, so no personal data sits in Redis. The
XADDs and the cursor move together in one script that first checks the cursor is the one the
relay read (fencing), so two relays never interleave and an event is never added twice.
Publishing never touches Redis, so the API keeps accepting events while Redis is down, and a
process killed between commit and XADD loses nothing: the relay finds the rows later.

Each durable consumer is a consumer group on every stream. A partition is read by one process
at a time, the holder of its lease (renewed while held, given back on stop, expiring when the
process dies); processes share the partitions evenly by a heartbeat set. The holder hands the
handler its own pending entries first (a failed batch, retried), then entries another holder
left pending once they are idle longer than a lease (XAUTOCLAIM: that holder died), and new
entries only when the partition has nothing pending, so one shopper's events are handled in id
order and each at least once. Entries are XACKed after the handler returns.

Back-pressure: the relay stops before any stream holds ``stream_cap`` entries; the events wait
in the table. Streams are trimmed (XTRIM MINID) below the oldest entry any group still needs,
never by length, so the cap never drops an unprocessed entry. Redis memory is bounded by
``partitions * stream_cap`` small entries, hashes of ``partitions`` fields, and leases and
heartbeats that expire. If Redis loses its data (restart without persistence, failover), the
relay finds its cursor gone and starts again from the smallest position stored in
``bus_offsets``: events are delivered again, never lost. See ``docs/deploy.md``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import redis
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from shopwise.bus._protocol import Handler, StoredEvent
from shopwise.store import bus_offsets, events, insert_once, is_sqlite, write_transaction

log = logging.getLogger("shopwise.bus")

RELAY: Final = "redis-relay"
"""The relay's row in ``bus_offsets``: the last event id it handed to Redis."""
IDLE_POLL_SECONDS: Final = 0.4
"""The longest wait of an idle relay between reads of the event table."""
SAVE_SECONDS: Final = 1.0
"""How often, at most, a consumer stores its position while events flow (and once idle)."""
_COLUMNS = [events.c[name] for name in StoredEvent.__slots__ if name in events.c]
_T = TypeVar("_T")


class RedisBusConfig(BaseModel):
    """How the Redis Streams bus partitions, caps and leases (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    """The Redis server (``SHOPWISE_REDIS_URL``)."""
    prefix: str = "shopwise"
    """Prefix of every key the bus writes."""
    partitions: int = Field(default=1, ge=1)
    """Streams the events are spread over; the most processes one consumer can use in parallel.
    One keeps every consumer in event-id order, which the profile fold needs: a person's events
    under their anonymous id and under their user id hash to different streams, and an event
    handled after a later one of the same (linked) profile is passed over by its watermark. More
    only for order-insensitive consumers. Change it only with the bus drained: it moves shoppers
    between streams."""
    stream_cap: int = Field(default=50_000, ge=1)
    """Entries a stream may hold before the relay waits (back-pressure)."""
    lease_seconds: float = Field(default=10.0, gt=0)
    """How long a partition or relay lease outlives its holder's last renewal; also how long a
    dead holder's pending entries wait before another process claims them."""
    batch_size: int = Field(default=500, ge=1)
    """Events the relay reads from the table at a time."""
    poll_seconds: float = Field(default=0.05, gt=0)
    """First wait of an idle relay or consumer, doubled up to :data:`IDLE_POLL_SECONDS`."""
    gap_seconds: float = Field(default=2.0, ge=0)
    """How long the relay waits at a hole in the event ids (a transaction that took an id and
    has not committed yet, on PostgreSQL) before passing it as rolled back or erased."""
    retry_seconds: float = Field(default=1.0, gt=0)
    """Wait after a failed handler, or Redis or the store being unreachable, before retrying."""


def shopper_key(anonymous_id: str | None, user_id: str | None) -> str:
    """The key an event's profile is found by (as ``profiles`` attributes events)."""
    return f"u:{user_id}" if user_id is not None else f"a:{anonymous_id}"


def partition_of(key: str, partitions: int) -> int:
    """A stable partition for a shopper key (the same in every process and release)."""
    return zlib.crc32(key.encode()) % partitions


# KEYS: cursor, relayed hash, one stream per event. ARGV: expected cursor, cap, the cursor once
# every event is added, then (id, type, partition) per event. Returns {fenced?0:1, cursor}.
_RELAY_LUA = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return {0, current} end
local cap = tonumber(ARGV[2])
local done = ARGV[1]
for i = 3, #KEYS do
  local at = 4 + 3 * (i - 3)
  if redis.call('XLEN', KEYS[i]) >= cap then
    if done ~= ARGV[1] then redis.call('SET', KEYS[1], done) end
    return {1, done}
  end
  redis.pcall('XADD', KEYS[i], ARGV[at] .. '-0', 't', ARGV[at + 1])
  redis.call('HSET', KEYS[2], ARGV[at + 2], ARGV[at])
  done = ARGV[at]
end
redis.call('SET', KEYS[1], ARGV[3])
return {1, ARGV[3]}
"""

# KEYS: the held streams. ARGV: group, consumer, count, min idle ms. Per stream: a kind (own,
# claimed, blocked, new) then id, type pairs.
_NEXT_LUA = """
local function read(key, from)
  local got = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
                         'STREAMS', key, from)
  if got and got[1] then return got[1][2] end
  return {}
end
local result = {}
for i, key in ipairs(KEYS) do
  local kind, entries = 'own', read(key, '0')
  if #entries == 0 then
    kind = 'claimed'
    entries = redis.call('XAUTOCLAIM', key, ARGV[1], ARGV[2], ARGV[4], '0-0',
                         'COUNT', ARGV[3])[2]
  end
  if #entries == 0 then
    if redis.call('XPENDING', key, ARGV[1])[1] > 0 then
      kind = 'blocked'
    else
      kind, entries = 'new', read(key, '>')
    end
  end
  local out = {kind}
  for _, entry in ipairs(entries) do
    local kind_of = ''
    if entry[2] then
      for j = 1, #entry[2], 2 do
        if entry[2][j] == 't' then kind_of = entry[2][j + 1] end
      end
    end
    out[#out + 1] = entry[1]
    out[#out + 1] = kind_of
  end
  result[i] = out
end
return result
"""

# KEYS: stream, acked hash. ARGV: group, partition, highest id, then the entry ids.
_ACK_LUA = """
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 4))
local stored = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
if tonumber(ARGV[3]) > stored then redis.call('HSET', KEYS[2], ARGV[2], ARGV[3]) end
return 1
"""

# KEYS: leases. ARGV: token, ms. Renews those still held; returns 1 or 0 per lease.
_RENEW_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

_RELEASE_LUA = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""

# KEYS: streams. Trims each below the oldest entry any of its groups still needs: the first
# pending entry, else the one after the last delivered. Streams without groups are left whole.
_TRIM_LUA = """
local function num(id) return tonumber(string.match(id, '^(%d+)')) end
local trimmed = 0
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local keep, keep_at = nil, nil
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', key)) do
      local info = {}
      for j = 1, #group, 2 do info[group[j]] = group[j + 1] end
      local need
      if info['pending'] > 0 then
        need = redis.call('XPENDING', key, info['name'])[2]
      else
        need = string.match(info['last-delivered-id'], '^(%d+)') .. '-1'
      end
      if keep == nil or num(need) < keep_at then keep, keep_at = need, num(need) end
    end
    if keep then trimmed = trimmed + redis.call('XTRIM', key, 'MINID', keep) end
  end
end
return trimmed
"""


@dataclass
class _Subscription:
    """A consumer: its handler, the partitions this process holds for it, its position."""

    name: str
    handler: Handler
    batch_size: int
    ignore: frozenset[str]
    held: list[int] = field(default_factory=list)
    groups_ready: bool = False
    position: int = 0
    """The highest position this process has seen or stored."""
    stored: int = 0
    stored_at: float = 0.0
    balanced_at: float = 0.0
    thread: threading.Thread | None = None


class RedisStreamBus:
    """The bus on Redis Streams consumer groups (see module docstring)."""

    def __init__(self, engine: sa.Engine, config: RedisBusConfig) -> None:
        self._engine = engine
        self._config = config
        self._redis = redis.Redis.from_url(
            config.url,
            decode_responses=True,
            socket_connect_timeout=min(config.lease_seconds, 2.0),
            socket_timeout=max(config.lease_seconds, 5.0),
        )
        self._token = uuid.uuid4().hex
        """This process's name in the consumer groups and on its leases."""
        self._subs: dict[str, _Subscription] = {}
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._generation = 0
        self._relay_thread: threading.Thread | None = None
        self._renew_thread: threading.Thread | None = None
        self._relay_cursor: int | None = None
        """The cursor read from Redis (``None``: read it again)."""
        self._relay_holds = False
        self._relay_stored = 0
        self._relay_stored_at = 0.0
        self._hole: tuple[int, float] | None = None
        self._trimmed_at = 0.0
        self._sqlite = is_sqlite(engine)
        scripts = self._redis.register_script
        self._relay_script = scripts(_RELAY_LUA)
        self._next_script = scripts(_NEXT_LUA)
        self._ack_script = scripts(_ACK_LUA)
        self._renew_script = scripts(_RENEW_LUA)
        self._release_script = scripts(_RELEASE_LUA)
        self._trim_script = scripts(_TRIM_LUA)

    # -- keys -----------------------------------------------------------------------------------

    def stream(self, partition: int) -> str:
        return f"{self._config.prefix}:events:{partition}"

    @property
    def _streams(self) -> list[str]:
        return [self.stream(k) for k in range(self._config.partitions)]

    def _key(self, *parts: str) -> str:
        return ":".join((self._config.prefix, *parts))

    @property
    def _lease_ms(self) -> int:
        return int(self._config.lease_seconds * 1000)

    # -- the protocol ---------------------------------------------------------------------------

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Wake the relay: the events are committed, and it reads them from the table."""
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def subscribe(
        self,
        consumer: str,
        handler: Handler,
        batch_size: int = 500,
        ignore: frozenset[str] = frozenset(),
    ) -> None:
        if consumer in self._subs or consumer == RELAY:
            raise ValueError(f"consumer {consumer!r} is already subscribed")
        self._subs[consumer] = _Subscription(consumer, handler, batch_size, ignore)

    def start(self) -> None:
        self._stopping.clear()
        self._relay_thread = self._thread("bus-redis-relay", self._relay_loop)
        self._renew_thread = self._thread("bus-redis-leases", self._renew_loop)
        for sub in self._subs.values():
            sub.thread = self._thread(f"bus-{sub.name}", functools.partial(self._consume_loop, sub))

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        threads = [
            self._relay_thread,
            self._renew_thread,
            *(s.thread for s in self._subs.values()),
        ]
        for thread in threads:
            if thread is not None:
                thread.join(timeout=10)
        self._relay_thread = self._renew_thread = None
        for sub in self._subs.values():
            sub.thread = None
        self._give_back()
        self._redis.close()

    def position(self, consumer: str) -> int:
        sub = self._subs[consumer]
        with contextlib.suppress(redis.RedisError):  # Redis away: the last position seen holds
            sub.position = max(sub.position, self._positions([consumer])[consumer])
        return sub.position

    def wait_until_consumed(self, event_id: int, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        names = list(self._subs)
        while True:
            try:
                positions = self._positions(names)
            except redis.RedisError:
                positions = self._stored_positions(names)
            if all(positions[name] >= event_id for name in names):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._stopping.wait(min(left, 0.02))

    # -- positions ------------------------------------------------------------------------------

    def _positions(self, names: Sequence[str]) -> dict[str, int]:
        """Each consumer's position: every event up to it is acknowledged in every partition.

        A partition whose acknowledged id has reached the last id relayed to it holds back
        nothing; one behind holds the position at its acknowledged id. The relay cursor bounds
        it all. Combined with what this process stored, so a Redis that lost its data never
        moves a position back.
        """
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(self._key("relay", "cursor"))
        pipe.hgetall(self._key("relay", "partitions"))
        for name in names:
            pipe.hgetall(self._key("acked", name))
        cursor, relayed, *acked = pipe.execute()
        out: dict[str, int] = {}
        for name, done in zip(names, acked, strict=True):
            position = int(cursor or 0)
            for k, last in relayed.items():
                if int(done.get(k, 0)) < int(last):
                    position = min(position, int(done.get(k, 0)))
            known = self._subs[name].stored if name in self._subs else 0
            out[name] = max(position, known)
        return out

    def _stored_positions(self, names: Sequence[str]) -> dict[str, int]:
        query = sa.select(bus_offsets.c.consumer, bus_offsets.c.position)
        with self._engine.connect() as conn:
            stored = {
                row[0]: row[1]
                for row in conn.execute(query.where(bus_offsets.c.consumer.in_(names)))
            }
        return {name: int(stored.get(name, 0)) for name in names}

    def _store_position(self, name: str, position: int) -> None:
        """Move ``name``'s row in ``bus_offsets`` forward to ``position`` (never back: several
        processes store the same consumer's position)."""
        now = int(time.time() * 1000)
        with write_transaction(self._engine) as conn:
            updated = conn.execute(
                bus_offsets.update()
                .where(bus_offsets.c.consumer == name, bus_offsets.c.position < position)
                .values(position=position, updated_at=now)
            ).rowcount
            if not updated:
                conn.execute(
                    insert_once(self._engine, bus_offsets, "consumer").values(
                        consumer=name, position=position, updated_at=now
                    )
                )

    # -- the relay ------------------------------------------------------------------------------

    def _relay_loop(self) -> None:
        wait = self._config.poll_seconds
        while not self._stopping.is_set():
            try:
                moved = self._relay_step() if self._hold_relay() else False
            except Exception:  # boundary: Redis or the store away; the table keeps the events
                log.warning("bus relay failed; retrying", exc_info=True)
                self._relay_cursor = None
                self._stopping.wait(self._config.retry_seconds)
                continue
            if moved:
                wait = self._config.poll_seconds
                continue
            woken = self._sleep(wait)
            wait = (
                self._config.poll_seconds
                if woken
                else min(wait * 2, max(IDLE_POLL_SECONDS, self._config.poll_seconds))
            )

    def _hold_relay(self) -> bool:
        """Take or renew the relay lease: one relay at a time reads the table."""
        key = self._key("relay", "lease")
        if self._relay_holds:
            self._relay_holds = bool(self._renew_script([key], [self._token, self._lease_ms])[0])
        if not self._relay_holds:
            self._relay_holds = bool(self._redis.set(key, self._token, nx=True, px=self._lease_ms))
            self._relay_cursor = None
        return self._relay_holds

    def _relay_step(self) -> bool:
        """Relay the next events; ``True`` when the cursor moved (there may be more)."""
        if self._relay_cursor is None:
            stored = self._redis.get(self._key("relay", "cursor"))
            self._relay_cursor = int(stored) if stored is not None else self._rewind_point()
            fresh = stored is None
        else:
            fresh = False
        cursor = self._relay_cursor
        rows = self._unrelayed(cursor)
        passed = self._passable(rows, cursor)
        target = passed[-1][0] if passed else cursor
        if target == cursor and not fresh:
            self._trim(blocked=False)
            self._store_relay_cursor(idle=True)
            return False
        keys = [self._key("relay", "cursor"), self._key("relay", "partitions")]
        args: list[Any] = ["" if fresh else str(cursor), self._config.stream_cap, str(target)]
        for event_id, kind, partition in passed:
            keys.append(self.stream(partition))
            args += [str(event_id), kind, str(partition)]
        status, reached = self._relay_script(keys, args)
        if not int(status):  # another relay moved the cursor, or Redis lost it: read again
            self._relay_cursor = None
            return True
        self._relay_cursor = int(reached or 0)
        if self._relay_cursor < target:
            self._trim(blocked=True)  # a stream is full: trim what the groups have acknowledged
        else:
            self._trim(blocked=False)
        moved = self._relay_cursor > cursor
        self._store_relay_cursor(idle=not moved)
        return moved

    def _store_relay_cursor(self, idle: bool) -> None:
        """Store the relay cursor in ``bus_offsets`` (a floor for a rewind, and the relay's
        progress for operators): at most every :data:`SAVE_SECONDS` while events flow."""
        cursor = self._relay_cursor or 0
        if cursor <= self._relay_stored:
            return
        if idle or time.monotonic() - self._relay_stored_at >= SAVE_SECONDS:
            self._store_position(RELAY, cursor)
            self._relay_stored, self._relay_stored_at = cursor, time.monotonic()

    def _rewind_point(self) -> int:
        """Where a relay starts when Redis holds no cursor (new, or it lost its data): the
        smallest position any consumer stored, so everything not surely handled goes again."""
        with self._engine.connect() as conn:
            query = sa.select(bus_offsets.c.consumer, bus_offsets.c.position)
            stored = {row[0]: row[1] for row in conn.execute(query)}
        positions = [int(stored.get(name, 0)) for name in self._subs]
        positions += [int(p) for p in stored.values()]  # the relay's own row included
        start = min(positions, default=0)
        if stored.get(RELAY, 0):
            log.warning("bus relay found no cursor in Redis; relaying again", extra={"from": start})
        return start

    def _unrelayed(self, cursor: int) -> list[tuple[int, str, str | None, str | None]]:
        query = (
            sa.select(events.c.id, events.c.type, events.c.anonymous_id, events.c.user_id)
            .where(events.c.id > cursor)
            .order_by(events.c.id)
            .limit(self._config.batch_size)
        )
        with self._engine.connect() as conn:
            return [(int(r[0]), r[1], r[2], r[3]) for r in conn.execute(query)]

    def _passable(
        self, rows: Sequence[tuple[int, str, str | None, str | None]], cursor: int
    ) -> list[tuple[int, str, int]]:
        """The rows the relay may add now, with their partitions: up to the first hole in the
        ids that may still fill. On SQLite ids are taken under the write lock, so a hole is
        always a deleted row; elsewhere a hole may be a transaction not yet committed, and is
        passed once it has stayed open ``gap_seconds``."""
        passed: list[tuple[int, str, int]] = []
        expected = cursor + 1
        for event_id, kind, anonymous_id, user_id in rows:
            if event_id != expected and not self._hole_passed(expected):
                break
            key = shopper_key(anonymous_id, user_id)
            passed.append((event_id, kind, partition_of(key, self._config.partitions)))
            expected = event_id + 1
        return passed

    def _hole_passed(self, at: int) -> bool:
        if self._sqlite or self._config.gap_seconds == 0:
            return True
        now = time.monotonic()
        if self._hole is None or self._hole[0] != at:
            self._hole = (at, now)
        return now - self._hole[1] >= self._config.gap_seconds

    def _trim(self, blocked: bool) -> None:
        """Trim acknowledged entries: at once when a stream is full, else at most once a
        second (each trim reads every group of every stream)."""
        now = time.monotonic()
        if blocked or now - self._trimmed_at >= SAVE_SECONDS:
            self._trim_script(self._streams, [])
            self._trimmed_at = now

    # -- the consumers --------------------------------------------------------------------------

    def _consume_loop(self, sub: _Subscription) -> None:
        while not self._stopping.is_set():
            try:
                if not sub.groups_ready:
                    self._create_groups(sub.name)
                    sub.groups_ready = True
                self._balance(sub)
                if not sub.held:
                    self._stopping.wait(self._config.lease_seconds / 3)
                    continue
                open_partitions = self._consume_once(sub)
                if open_partitions is not None and self._idle(sub, open_partitions):
                    # what the wait delivered is pending here: hand it over before a rebalance
                    # could give its partition away
                    self._consume_once(sub)
            except redis.ResponseError as error:
                if "NOGROUP" in str(error):  # Redis lost its data: groups again, leases again
                    sub.groups_ready, sub.held, sub.balanced_at = False, [], 0.0
                    continue
                self._failed(sub)
            except Exception:  # boundary: a failing consumer retries, it never kills the bus
                self._failed(sub)

    def _renew_loop(self) -> None:
        """Keep this process's partition leases and heartbeats alive while it lives, however
        long a handler takes: a lease lapses when its process dies (or stops), not when a batch
        is slow, so two live processes never hold one partition. The consumer threads drop a
        lease they find lost at their next rebalance."""
        while not self._stopping.wait(self._config.lease_seconds / 3):
            try:
                wall = int(time.time() * 1000)
                pipe = self._redis.pipeline(transaction=False)
                for sub in list(self._subs.values()):
                    held = list(sub.held)
                    if held:
                        leases = [self._lease(sub.name, k) for k in held]
                        self._renew_script(leases, [self._token, self._lease_ms], client=pipe)
                    pipe.zadd(self._key("members", sub.name), {self._token: wall + self._lease_ms})
                pipe.execute()
            except redis.RedisError:
                log.warning("bus could not renew its leases; retrying", exc_info=True)

    def _failed(self, sub: _Subscription) -> None:
        log.warning("bus consumer failed; retrying", exc_info=True, extra={"consumer": sub.name})
        self._stopping.wait(self._config.retry_seconds)

    def _create_groups(self, name: str) -> None:
        for key in self._streams:
            try:
                self._redis.xgroup_create(key, name, id="0", mkstream=True)
            except redis.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def _balance(self, sub: _Subscription) -> None:
        """Renew held leases, then take free partitions up to a fair share of the live processes
        and give back any beyond it; every third of a lease."""
        now = time.monotonic()
        if now - sub.balanced_at < self._config.lease_seconds / 3:
            return
        sub.balanced_at = now
        members = self._key("members", sub.name)
        wall = int(time.time() * 1000)
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(members, {self._token: wall + self._lease_ms})
        pipe.zremrangebyscore(members, 0, wall)
        pipe.zcard(members)
        pipe.pexpire(members, self._lease_ms * 3)
        live = max(int(pipe.execute()[2]), 1)
        share = math.ceil(self._config.partitions / live)
        leases = [self._lease(sub.name, k) for k in sub.held]
        kept = self._renew_script(leases, [self._token, self._lease_ms]) if leases else []
        sub.held = [k for k, ok in zip(sub.held, kept, strict=True) if int(ok)]
        start = zlib.crc32(self._token.encode()) % self._config.partitions
        for step in range(self._config.partitions):
            if len(sub.held) >= share:
                break
            k = (start + step) % self._config.partitions
            if k not in sub.held and self._redis.set(
                self._lease(sub.name, k), self._token, nx=True, px=self._lease_ms
            ):
                sub.held.append(k)
        surplus = sub.held[share:]
        if surplus:
            sub.held = sub.held[:share]
            self._release_script([self._lease(sub.name, k) for k in surplus], [self._token])

    def _lease(self, name: str, partition: int) -> str:
        return self._key("lease", name, str(partition))

    def _consume_once(self, sub: _Subscription) -> list[int] | None:
        """Hand the next entries of the held partitions over. ``None`` when there were some;
        else the partitions that may take new entries (not those waiting for a dead holder's
        pending entries to be claimable)."""
        keys = [self.stream(k) for k in sub.held]
        replies = self._next_script(keys, [sub.name, self._token, sub.batch_size, self._lease_ms])
        batches: dict[int, list[tuple[int, str]]] = {}
        open_partitions: list[int] = []
        for k, reply in zip(sub.held, replies, strict=True):
            entries = _entries(reply)
            if entries:
                batches[k] = entries
            elif reply[0] != "blocked":
                open_partitions.append(k)
        if not batches:
            self._save(sub, idle=True)
            return open_partitions
        kept = sorted(i for entries in batches.values() for i, t in entries if t not in sub.ignore)
        if kept:
            batch = self._read(kept)
            if batch:
                sub.handler(batch)
        pipe = self._redis.pipeline(transaction=False)
        for k, entries in batches.items():
            ids = [f"{i}-0" for i, _ in entries]
            top = max(i for i, _ in entries)
            self._ack_script(
                [self.stream(k), self._key("acked", sub.name)],
                [sub.name, k, top, *ids],
                client=pipe,
            )
        pipe.execute()
        self._save(sub, idle=False)
        return None

    def _idle(self, sub: _Subscription, partitions: Sequence[int]) -> bool:
        """Block on the open partitions' streams until an entry comes (or a poll passes); what
        comes lands in this process's pending list and is handed over by the next round. A
        partition with another holder's entries pending is left out: its new entries must wait
        until those are claimed and handled."""
        wait = min(IDLE_POLL_SECONDS, self._config.lease_seconds / 3)
        if not partitions:
            self._stopping.wait(wait)
            return False
        streams: dict[Any, Any] = {self.stream(k): ">" for k in partitions}
        got = self._redis.xreadgroup(
            sub.name, self._token, streams, count=sub.batch_size, block=int(wait * 1000)
        )
        return bool(got)

    def _read(self, ids: Sequence[int]) -> list[StoredEvent]:
        """The events behind the entries (an erased event is gone and is passed over)."""
        query = sa.select(*_COLUMNS).where(events.c.id.in_(ids)).order_by(events.c.id)
        with self._engine.connect() as conn:
            return [StoredEvent.from_row(dict(row._mapping)) for row in conn.execute(query)]

    def _save(self, sub: _Subscription, idle: bool) -> None:
        """Store the consumer's position: at most every :data:`SAVE_SECONDS` while events flow,
        and when it runs dry, so a restart (or a rewind of Redis) resumes close to it."""
        if not idle and time.monotonic() - sub.stored_at < SAVE_SECONDS:
            return
        position = self._positions([sub.name])[sub.name]
        sub.position = max(sub.position, position)
        if position > sub.stored:
            self._store_position(sub.name, position)
            sub.stored = position
        sub.stored_at = time.monotonic()

    # -- threads --------------------------------------------------------------------------------

    def _thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _sleep(self, timeout: float) -> bool:
        """Wait for a publish (``True``), the stop, or ``timeout`` seconds (``False``)."""
        with self._wake:
            generation = self._generation
            return self._wake.wait_for(
                lambda: self._generation != generation or self._stopping.is_set(),
                timeout=timeout,
            )

    def _give_back(self) -> None:
        """Release this process's leases and heartbeat, so others take over at once."""
        leases = [self._key("relay", "lease")]
        for sub in self._subs.values():
            leases += [self._lease(sub.name, k) for k in sub.held]
            sub.held = []
        try:
            self._release_script(leases, [self._token])
            for name in self._subs:
                self._redis.zrem(self._key("members", name), self._token)
        except redis.RedisError:
            log.warning("bus could not give its leases back; they expire", exc_info=True)
        self._relay_holds = False


def _entries(reply: Sequence[Any]) -> list[tuple[int, str]]:
    """``(event id, type)`` pairs from one stream's part of the next-entries script's reply."""
    pairs = iter(reply[1:])
    return [(int(str(entry_id).split("-")[0]), str(kind)) for entry_id, kind in _pairs(pairs)]


def _pairs(items: Iterator[_T]) -> Iterator[tuple[_T, _T]]:
    return zip(items, items, strict=True)
