"""What a process remembers of the shoppers it served lately, bounded by count and by time.

A per-shopper memo bounded by count alone fills at the pace of new shoppers: at a modest rate it
keeps growing long after start-up until its cap holds, so the memory a process holds follows how
long it has run, not how busy it is. :class:`Recent` also drops what was not used for
``seconds``, so a process at steady traffic reaches its steady size within that time, and one
that is busier hits the count bound first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

IDLE_SECONDS: Final = 300.0
"""How long an entry of a per-shopper memo lives unused: a shopper's pages ask again within a
visit, and a visitor gone this long pays one fresh computation on return."""


class Recent(Generic[K, V]):
    """Values by key, least recently used first; an entry unused for ``seconds`` is dropped, and
    the least recently used ones beyond ``size``. Thread-safe: one lock around a few dict ops."""

    def __init__(
        self,
        size: int,
        seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        self._size = size
        self._seconds = seconds
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()
        """Key -> (value, when last used), least recently used first."""
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value kept for ``key`` (now the most recently used), or ``None``."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] < now - self._seconds:
                return None
            self._entries[key] = (entry[0], now)
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key``, dropping what is past its time or beyond the count."""
        now = self._clock()
        with self._lock:
            entries = self._entries
            entries[key] = (value, now)
            entries.move_to_end(key)
            while len(entries) > self._size:
                entries.popitem(last=False)
            while next(iter(entries.values()))[1] < now - self._seconds:
                entries.popitem(last=False)

    def pop(self, key: K) -> None:
        """Forget ``key``."""
        with self._lock:
            self._entries.pop(key, None)

    def kept(self) -> list[K]:
        """The keys kept (a copy), least recently used first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
