"""Online session state: each shopper's latest product events, updated as events are committed.

Serving reads it on every request, so a ``product_viewed`` acknowledged a few milliseconds earlier
already changes the next answer, before the profile consumer has run. It lives in process memory
(bounded); several servers share it through Redis in the scale-out setup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Sequence

from shopwise.bus import StoredEvent
from shopwise.profiles import anon_key, user_key
from shopwise.schema import ITEM_EVENT_WEIGHTS

RecentItem = tuple[int, str, str]
"""(timestamp ms, event type, product id)"""


class OnlineState:
    """Recent product events per identity key (``a:<id>``, ``u:<id>``), LRU-bounded."""

    def __init__(self, per_identity: int = 50, max_identities: int = 100_000) -> None:
        self._per_identity = per_identity
        self._max = max_identities
        self._recent: OrderedDict[str, deque[RecentItem]] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, committed: Sequence[StoredEvent]) -> None:
        """Called with every group commit (before the clients are answered)."""
        with self._lock:
            for event in committed:
                if event.product_id is None or event.type not in ITEM_EVENT_WEIGHTS:
                    continue
                item = (event.timestamp, event.type, event.product_id)
                for key in _keys(event.anonymous_id, event.user_id):
                    self._push(key, item)

    def _push(self, key: str, item: RecentItem) -> None:
        queue = self._recent.get(key)
        if queue is None:
            queue = deque(maxlen=self._per_identity)
            self._recent[key] = queue
            if len(self._recent) > self._max:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(key)
        queue.append(item)

    def recent(self, anonymous_id: str | None, user_id: str | None) -> list[RecentItem]:
        """The identities' recent product events, oldest first."""
        with self._lock:
            items = [
                item for key in _keys(anonymous_id, user_id) for item in self._recent.get(key, ())
            ]
        return sorted(set(items)) if items else items


def _keys(anonymous_id: str | None, user_id: str | None) -> list[str]:
    keys = []
    if anonymous_id:
        keys.append(anon_key(anonymous_id))
    if user_id:
        keys.append(user_key(user_id))
    return keys
