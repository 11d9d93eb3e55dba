"""Session state in Redis, so that every API process continues the same sessions.

In process memory (:class:`~shopwise.collect.Sessionizer`) each server knows only the events it
received: a shopper whose requests alternate between two servers would get a session on each,
which inflates session counts in profiles and splits the per-session features and drift
statistics. With ``SHOPWISE_REDIS_URL`` set, :func:`shared_sessionizer` builds a
:class:`RedisSessionizer`: one Lua script assigns a whole batch, reading and moving each
identity's open session (its start, first and last timestamps) atomically, so two servers
assigning one shopper's events at once agree, and the ids are those one process would have
given the same events.

What Redis holds: one small hash per identity with an open session, named by a keyed digest of
the identity (the salt derives from ``SHOPWISE_SECRET_KEY``, so every process names one shopper's
session alike): no shopper id, only timestamps. Each hash expires twice the idle time after the
last event that touched it arrived (an event that arrives late still finds its session), so
Redis memory is bounded by the identities seen within that time.

Redis unreachable is a declared fallback boundary: events are never refused for it. Sessions are
assigned in process memory meanwhile (a shopper's visit may then split between servers), the
outage is logged once, and Redis is asked again after ``retry_seconds``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from shopwise.collect._sessions import Sessionizer, identity_of, session_id
from shopwise.redis_state import PREFIX, RETRY_SECONDS, TIMEOUT_SECONDS, Outage, shared_salt
from shopwise.schema import Columns
from shopwise.settings import Settings

log = logging.getLogger("shopwise.collect")

# KEYS: each row's session key, rows in time order (a key repeats for an identity's rows).
# ARGV: the idle gap in ms, the ttl in ms, then each row's timestamp. Returns each row's session
# start. The same rule as Sessionizer._session_of: a row within the idle gap of the open
# session joins it (stretching it), one before it and outside the gap gets a session of its own
# without moving the open one, any other opens a new session.
_SESSIONS_LUA = """
local idle = tonumber(ARGV[1])
local starts = {}
for i, key in ipairs(KEYS) do
  local at = ARGV[i + 2]
  local ts = tonumber(at)
  local state = redis.call('HMGET', key, 'start', 'first', 'last')
  local start = tonumber(state[1])
  local first = tonumber(state[2])
  local last = tonumber(state[3])
  if start ~= nil and first - idle <= ts and ts <= last + idle then
    if ts < first then redis.call('HSET', key, 'first', at) end
    if ts > last then redis.call('HSET', key, 'last', at) end
    starts[i] = start
  elseif start ~= nil and ts < first then
    starts[i] = ts
  else
    redis.call('HSET', key, 'start', at, 'first', at, 'last', at)
    starts[i] = ts
  end
  redis.call('PEXPIRE', key, ARGV[2])
end
return starts
"""


class RedisSessionizer(Sessionizer):
    """A :class:`Sessionizer` whose open sessions live in Redis; its own memory is the fallback.

    Parameters
    ----------
    idle_minutes
        Minutes of inactivity after which a shopper's next event starts a new session.
    client
        The Redis connection.
    salt
        Keys the digests that name the session keys (:func:`shared_salt`): the same in every
        process.
    prefix
        Prefix of the session keys.
    retry_seconds
        How long after a failed call sessions are assigned in process before asking Redis again.
    clock
        Monotonic time in seconds (for the retry delay).
    """

    def __init__(
        self,
        idle_minutes: int,
        *,
        client: redis.Redis,
        salt: bytes,
        prefix: str = PREFIX,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(idle_minutes)
        self._script = client.register_script(_SESSIONS_LUA)
        self._salt = salt
        self._namespace = f"{prefix}:session:"
        self.ttl_ms = 2 * self._idle
        """How long a session's state outlives the arrival of its last event."""
        self._outage = Outage(
            log, "sessions are assigned per process", "sessions are shared", retry_seconds, clock
        )

    @property
    def shared(self) -> bool:
        """Whether sessions are assigned in Redis now (false while falling back)."""
        return self._outage.up

    def key_of(self, identity: str) -> str:
        """The Redis key of ``identity``'s open session."""
        digest = hashlib.blake2b(identity.encode(), key=self._salt, digest_size=16)
        return self._namespace + digest.hexdigest()

    def assign(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._outage.ask_redis():
            ordered = sorted(rows, key=lambda row: row[Columns.TIME])
            identities = [identity_of(row) for row in ordered]
            args = [self._idle, self.ttl_ms, *(row[Columns.TIME] for row in ordered)]
            try:
                starts = self._script(keys=[self.key_of(i) for i in identities], args=args)
            except redis.RedisError as exc:
                self._outage.failed(exc)
            else:
                self._outage.answered()
                for row, identity, start in zip(ordered, identities, starts, strict=True):
                    row[Columns.SESSION] = session_id(identity, int(start))
                return
        super().assign(rows)


def shared_sessionizer(settings: Settings, url: str, *, prefix: str = PREFIX) -> RedisSessionizer:
    """A :class:`RedisSessionizer` on the Redis at ``url`` (see the module docstring)."""
    client = redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    return RedisSessionizer(
        settings.session_idle_minutes,
        client=client,
        salt=shared_salt(settings, b"shopwise sessions"),
        prefix=prefix,
    )
