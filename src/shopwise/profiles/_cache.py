"""An in-process cache of profile states for the serving path.

Serving resolves a shopper's id to (canonical profile id, state) on every request; reading and
decoding that from the store is most of a request's cost. This cache keeps recent answers:

- any id -> canonical profile id (or "no profile yet"), each entry valid for ``ttl`` seconds;
- canonical profile id -> state, LRU-bounded, dropped after :data:`IDLE` seconds unused.

Entries past their time are dropped as new ones come, so the memory held follows the shoppers
served lately, not the cap, at any traffic.

When the profile consumer runs in this process it writes every state it commits through to the
cache (:meth:`ProfileCache.committed`), so what serving reads of a cached state
(:func:`served_view`: recency lists, affinities, orders) is never older than the store's; the
``ttl`` guards against writers in other processes (a CLI job, another server). When a
``shopwise worker`` runs the consumers instead, the runtime sets a shorter ``ttl`` and reports
every event this process stores (:meth:`ProfileCache.stored`): its ids are read from the store,
uncached, for :data:`SETTLING` seconds, while the worker folds the event in. A commit that leaves
the served view as it was (an exposure, a page view) keeps the cached object, and so does a
re-read after the ``ttl`` that finds the same served view, so a state's counters, sessions and
traits may lag the store (serving never reads them): the new state is dropped at once instead of
joining the long-lived heap, which would make the cyclic GC's full passes frequent, and answers
computed from the cached object stay valid (the serving answer cache compares it by identity).

A store read that started before a commit touching the same profile or id is not cached (it may
predate the commit): every commit bumps a sequence number and fences the ids and profiles it
touched; :meth:`ProfileCache.put` compares the fence with the sequence number its read began at.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from shopwise.profiles._state import ProfileState
from shopwise.schema import EventType

Resolved = tuple[str, ProfileState] | None
"""(canonical profile id, state), or ``None`` when the id has no profile."""

LOCAL_TTL: Final = 30.0
"""Seconds an id's entry lives when this process runs the profile consumer (write-through)."""
REMOTE_TTL: Final = 5.0
"""Seconds an id's entry lives when another process writes profiles (no write-through)."""
IDLE: Final = 300.0
"""Seconds a cached state, or the fence of an id or profile, is kept without being used."""
SETTLING: Final = 2.0
"""Without write-through: seconds after this process stored an event for an id during which the
id is read from the store, not cached, so the other process's fold of it is seen."""


class ProfileCache:
    """See the module docstring. Thread-safe; every method holds one lock for a few dict ops."""

    def __init__(
        self,
        max_profiles: int = 10_000,
        ttl: float = LOCAL_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_profiles < 1:
            raise ValueError("max_profiles must be at least 1")
        self.ttl = ttl
        self._max = max_profiles
        self._clock = clock
        self._ids: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._states: OrderedDict[str, tuple[ProfileState, float]] = OrderedDict()
        """Profile -> (state, when last used), least recently used first."""
        self._fence: OrderedDict[str, tuple[int, float]] = OrderedDict()
        """Id or profile fence -> (sequence number of the commit, when), oldest first."""
        self._settling: OrderedDict[str, float] = OrderedDict()
        """Ids stored here lately and folded elsewhere -> until when they are read uncached."""
        self._local = True
        self._seq = 0
        self._forgotten = 0
        """The newest sequence number of a fence entry dropped to bound memory."""
        self._lock = threading.Lock()

    def sequence(self) -> int:
        """Pass to :meth:`put` the value read just before the store read it caches."""
        return self._seq

    def written_through(self, local: bool) -> None:
        """Whether the profile consumer runs in this process (sets :attr:`ttl` accordingly)."""
        self.ttl = LOCAL_TTL if local else REMOTE_TTL
        self._local = local

    def stored(self, ids: Iterable[str]) -> None:
        """This process stored events for ``ids`` that another process will fold into profiles.

        Ignored when the consumer runs here (its commits write through). Otherwise the ids are
        dropped and read from the store, uncached, for :data:`SETTLING` seconds.
        """
        if self._local:
            return
        until = self._clock() + SETTLING
        with self._lock:
            self._seq += 1
            for raw in ids:
                self._ids.pop(raw, None)
                self._settling[raw] = until
                self._settling.move_to_end(raw)
                self._fence_key(_id_fence(raw), self._seq, until - SETTLING)
            while self._settling and next(iter(self._settling.values())) < until - SETTLING:
                self._settling.popitem(last=False)

    def get(self, any_id: str) -> tuple[bool, Resolved]:
        """(True, the cached answer) for ``any_id``, or (False, None): read the store."""
        now = self._clock()
        with self._lock:
            entry = self._ids.get(any_id)
            if entry is None or now - entry[1] > self.ttl or self._unsettled(any_id, now):
                return False, None
            profile = entry[0]
            if profile is None:
                return True, None
            cached = self._states.pop(profile, None)
            if cached is None:
                return False, None
            self._states[profile] = (cached[0], now)
            return True, (profile, cached[0])

    def put(self, any_id: str, resolved: Resolved, read_at: int) -> Resolved:
        """Remember a store read begun at sequence ``read_at`` unless a commit overtook it.

        Returns what to serve: the state object already cached when the read changes nothing
        serving reads (so an answer cached for that object keeps matching it by identity, for
        every id of the profile), else ``resolved``.
        """
        now = self._clock()
        with self._lock:
            if read_at < self._forgotten or self._fenced(_id_fence(any_id)) > read_at:
                return resolved
            if self._unsettled(any_id, now):
                return resolved
            if resolved is None:
                self._remember_id(any_id, None, now)
                return None
            profile, state = resolved
            if self._fenced(_profile_fence(profile)) > read_at:
                return resolved
            cached = self._states.get(profile)
            if cached is not None and served_view(cached[0]) == served_view(state):
                state = cached[0]  # a re-read after the ttl that changes nothing serving reads
            self._remember_id(any_id, profile, now)
            self._remember_state(profile, state, now)
            return profile, state

    def committed(
        self,
        owners: Iterable[tuple[str | None, str | None, str]],
        states: Mapping[str, ProfileState],
        dirty: Iterable[str],
        read_at: int,
    ) -> None:
        """The profile consumer committed a batch whose transaction began at sequence ``read_at``.

        ``owners``: (anonymous id, user id, owning profile) of each event; ``states``: the states
        written (held by nobody else from now on); ``dirty``: profiles whose membership changed
        (merged or rebuilt), dropped rather than written through. Nothing is written through when
        the cache was cleared meanwhile: an erasure may have deleted those states since.
        """
        now = self._clock()
        with self._lock:
            self._seq += 1
            seq = self._seq
            cleared = read_at < self._forgotten
            gone = set(dirty)
            for profile in gone:
                self._states.pop(profile, None)
                self._fence_key(_profile_fence(profile), seq, now)
            for anonymous_id, user_id, owner in owners:
                for raw in (anonymous_id, user_id):
                    if raw is None:
                        continue
                    self._fence_key(_id_fence(raw), seq, now)
                    entry = self._ids.get(raw)
                    if entry is not None and entry[0] != owner:
                        del self._ids[raw]
            for profile, state in states.items():
                if profile in gone:
                    continue
                self._fence_key(_profile_fence(profile), seq, now)
                cached = self._states.get(profile)
                if cleared:
                    continue
                if cached is None or served_view(cached[0]) != served_view(state):
                    self._remember_state(profile, state, now)

    def clear(self) -> None:
        with self._lock:
            self._seq += 1
            self._forgotten = self._seq
            self._ids.clear()
            self._states.clear()
            self._fence.clear()
            self._settling.clear()

    def holds(self, ids: Iterable[str], profiles: Iterable[str]) -> bool:
        """Whether any of these ids or profiles is cached."""
        with self._lock:
            return any(i in self._ids for i in ids) or any(p in self._states for p in profiles)

    def __len__(self) -> int:
        return len(self._states)

    # -- internals (lock held) ----------------------------------------------------------------

    def _unsettled(self, any_id: str, now: float) -> bool:
        until = self._settling.get(any_id)
        return until is not None and now < until

    def _remember_id(self, any_id: str, profile: str | None, now: float) -> None:
        self._ids.pop(any_id, None)
        self._ids[any_id] = (profile, now)
        ids = self._ids
        while ids and (len(ids) > 4 * self._max or next(iter(ids.values()))[1] < now - self.ttl):
            ids.popitem(last=False)

    def _remember_state(self, profile: str, state: ProfileState, now: float) -> None:
        self._states.pop(profile, None)
        self._states[profile] = (state, now)
        states = self._states
        while len(states) > self._max or next(iter(states.values()))[1] < now - IDLE:
            states.popitem(last=False)

    def _fenced(self, key: str) -> int:
        """The sequence number of the last commit that fenced ``key`` (-1: none kept)."""
        entry = self._fence.get(key)
        return -1 if entry is None else entry[0]

    def _fence_key(self, key: str, seq: int, now: float) -> None:
        self._fence.pop(key, None)
        self._fence[key] = (seq, now)
        fence = self._fence
        while len(fence) > 8 * self._max or next(iter(fence.values()))[1] < now - IDLE:
            _key, (dropped, _at) = fence.popitem(last=False)
            self._forgotten = max(self._forgotten, dropped)


def served_view(state: ProfileState) -> tuple[Any, ...]:
    """The parts of a state that serving reads (recency lists, affinities, orders, consent, and
    which browsers' links are verified)."""
    return (
        state.consent,
        state.verified_ids,
        state.viewed,
        state.carted,
        state.purchased,
        state.categories,
        state.last_order_at,
        state.counts.get(EventType.ORDER_COMPLETED, 0),
    )


def _id_fence(any_id: str) -> str:
    return f"i:{any_id}"


def _profile_fence(profile: str) -> str:
    return f"p:{profile}"
