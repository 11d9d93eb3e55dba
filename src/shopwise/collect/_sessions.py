"""Server-side sessionisation: a session ends after ``idle`` minutes without an event.

State is kept per identity (the anonymous id when present, else the user id) in process memory;
with ``SHOPWISE_REDIS_URL`` set, :class:`~shopwise.collect.RedisSessionizer` keeps it in Redis so
that every server continues the same sessions. Session ids are derived from the identity and the
session's first timestamp, so they are stable and readable.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from shopwise.schema import Columns


@dataclass
class _Open:
    session_id: str
    first: int
    last: int


class Sessionizer:
    """Assigns ``session_id`` to event rows, in place (see module docstring)."""

    def __init__(self, idle_minutes: int, max_identities: int = 200_000) -> None:
        self._idle = idle_minutes * 60_000
        self._max = max_identities
        self._open: dict[str, _Open] = {}
        self._lock = threading.Lock()

    def assign(self, rows: list[dict[str, Any]]) -> None:
        ordered = sorted(rows, key=lambda row: row[Columns.TIME])
        with self._lock:
            for row in ordered:
                row[Columns.SESSION] = self._session_of(row)
            if len(self._open) > self._max:
                self._evict()

    def _session_of(self, row: dict[str, Any]) -> str:
        identity = identity_of(row)
        ts = row[Columns.TIME]
        current = self._open.get(identity)
        if current is not None and current.first - self._idle <= ts <= current.last + self._idle:
            current.first = min(current.first, ts)
            current.last = max(current.last, ts)
            return current.session_id
        if current is not None and ts < current.first:
            return session_id(identity, ts)
        session = _Open(session_id(identity, ts), ts, ts)
        self._open[identity] = session
        return session.session_id

    def _evict(self) -> None:
        newest = sorted(self._open.items(), key=lambda kv: kv[1].last)[len(self._open) // 2 :]
        self._open = dict(newest)


def identity_of(row: dict[str, Any]) -> str:
    """Whose session an event row continues: its anonymous id when present, else its user id."""
    identity: str = row[Columns.ANONYMOUS] or row[Columns.USER]
    return identity


def session_id(identity: str, first: int) -> str:
    """The id of ``identity``'s session that began at ``first`` (epoch milliseconds)."""
    digest = hashlib.blake2b(identity.encode(), digest_size=6).hexdigest()
    return f"s_{digest}_{first}"
