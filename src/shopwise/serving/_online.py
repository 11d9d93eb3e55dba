"""Online session state: each shopper's latest product events and consent statements, updated as
events are committed.

Serving reads it on every request, so a ``product_viewed`` acknowledged a few milliseconds earlier
already changes the next answer, and a consent withdrawal already holds for it, before the profile
consumer has run. It lives in process memory (bounded); several servers share it through Redis in
the scale-out setup.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

from shopwise.bus import StoredEvent
from shopwise.profiles import anon_key, latest, stated_choices, user_key, verified
from shopwise.schema import ITEM_EVENT_WEIGHTS

RecentItem = tuple[int, str, str]
"""(timestamp ms, event type, product id)"""


class OnlineState:
    """Recent product events and consent statements per identity key (``a:<id>``, ``u:<id>``),
    LRU-bounded.

    An identity's recent events are also dropped once it sent none for ``idle_seconds`` (the
    session idle time): by then the profile consumer has folded them, and the memory held
    follows the shoppers active lately, not every shopper seen. Consent statements are kept
    until the LRU bound drops them, so a withdrawal holds here for as long as possible when the
    profiles lag (Redis away).
    """

    def __init__(
        self,
        per_identity: int = 50,
        max_identities: int = 100_000,
        idle_seconds: float = 30 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_identity = per_identity
        self._max = max_identities
        self._idle = idle_seconds
        self._clock = clock
        self._recent: OrderedDict[str, tuple[deque[RecentItem], float]] = OrderedDict()
        """Identity key -> (its recent events, when the last one was noted), oldest first."""
        self._consent: OrderedDict[str, dict[str, list[Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def note_consent(self, committed: Sequence[StoredEvent]) -> None:
        """Remember the consent statements the events carry (the newest choice per purpose)."""
        with self._lock:
            for event in committed:
                stated = stated_choices(event.context, event.timestamp, event.message_id)
                if not stated:
                    continue
                for key in _keys(event.anonymous_id, event.user_id):
                    known = self._consent.pop(key, {})
                    self._consent[key] = latest(known, stated)
                    if len(self._consent) > self._max:
                        self._consent.popitem(last=False)

    def consent(self, anonymous_id: str | None, user_id: str | None) -> dict[str, list[Any]]:
        """The consent statements committed for the identities (newest per purpose)."""
        with self._lock:
            found = [self._consent[k] for k in _keys(anonymous_id, user_id) if k in self._consent]
        return dict(found[0]) if len(found) == 1 else latest(*found)

    def forget(self, anonymous_id: str | None, user_id: str | None) -> None:
        """Drop the identities' recent product events (their consent statements stay)."""
        with self._lock:
            for key in _keys(anonymous_id, user_id):
                self._recent.pop(key, None)

    def clear(self) -> None:
        """Drop everything held (an erasure: the profiles keep what serving needs)."""
        with self._lock:
            self._recent.clear()
            self._consent.clear()

    def holds(self, anonymous_ids: Sequence[str], user_ids: Sequence[str]) -> bool:
        """Whether anything is held for these identities."""
        keys = [anon_key(a) for a in anonymous_ids] + [user_key(u) for u in user_ids]
        with self._lock:
            return any(key in self._recent or key in self._consent for key in keys)

    def record(self, committed: Sequence[StoredEvent]) -> None:
        """Keep the product events among ``committed`` (the caller passes only those it may).

        An event whose user id is only claimed (a write key without a valid user hash) is kept
        for its anonymous id alone: a browser's claim does not shape the user's session.
        """
        now = self._clock()
        with self._lock:
            for event in committed:
                if event.product_id is None or event.type not in ITEM_EVENT_WEIGHTS:
                    continue
                item = (event.timestamp, event.type, event.product_id)
                user_id = event.user_id if verified(event.context) else None
                for key in _keys(event.anonymous_id, user_id):
                    self._push(key, item, now)
            recent = self._recent
            while recent and next(iter(recent.values()))[1] < now - self._idle:
                recent.popitem(last=False)

    def _push(self, key: str, item: RecentItem, now: float) -> None:
        entry = self._recent.pop(key, None)
        queue = entry[0] if entry is not None else deque(maxlen=self._per_identity)
        queue.append(item)
        self._recent[key] = (queue, now)
        if len(self._recent) > self._max:
            self._recent.popitem(last=False)

    def recent(self, anonymous_id: str | None, user_id: str | None) -> list[RecentItem]:
        """The identities' recent product events, oldest first."""
        with self._lock:
            found = [self._recent.get(key) for key in _keys(anonymous_id, user_id)]
            items = [item for entry in found if entry is not None for item in entry[0]]
        return sorted(set(items)) if items else items


def _keys(anonymous_id: str | None, user_id: str | None) -> list[str]:
    keys = []
    if anonymous_id:
        keys.append(anon_key(anonymous_id))
    if user_id:
        keys.append(user_key(user_id))
    return keys
