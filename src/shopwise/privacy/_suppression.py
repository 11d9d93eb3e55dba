"""The suppression list: keyed hashes of the ids of erased people.

After an erasure, events that still arrive for the person (an SDK retrying, a tab left open) must
not bring them back. Their identity keys (``a:<anonymous_id>``, ``u:<user_id>``) are kept only as
keyed hashes (HMAC-SHA256 under the store's index key, :meth:`PiiCipher.key_hash`), so the list
itself names no one, and the collector drops matching events at ingestion.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from shopwise.profiles import anon_key, user_key
from shopwise.store import insert_once, suppressed_ids


class Suppression:
    """The suppressed id hashes of one store, held in memory (see module docstring)."""

    def __init__(self, engine: sa.Engine, key_hash: Callable[[str], str]) -> None:
        self._engine = engine
        self._key_hash = key_hash
        self._hashes: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._insert = insert_once(engine, suppressed_ids, "id_hash")

    def id_hash(self, id_key: str) -> str:
        """The keyed hash of an identity key."""
        return self._key_hash(id_key)

    def rows(self, id_keys: Iterable[str], request_id: str) -> list[dict[str, Any]]:
        """The suppression rows of ``id_keys`` (hash them before taking a write lock: the first
        hash may read the store's keys)."""
        now = int(time.time() * 1000)
        return [
            {"id_hash": self.id_hash(key), "request_id": request_id, "created_at": now}
            for key in id_keys
        ]

    def add(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
        """Store suppression ``rows`` inside the caller's transaction; how many were given."""
        if rows:
            conn.execute(self._insert, rows)
        return len(rows)

    def reload(self) -> None:
        """Read the list from the store (after an erasure here or in another process)."""
        with self._engine.connect() as conn:
            hashes = frozenset(conn.execute(sa.select(suppressed_ids.c.id_hash)).scalars())
        with self._lock:
            self._hashes = hashes

    def suppressed(self, anonymous_id: str | None, user_id: str | None) -> bool:
        """Whether an event with these ids belongs to an erased person."""
        hashes = self._hashes
        if not hashes:
            return False
        keys = [anon_key(anonymous_id)] if anonymous_id else []
        if user_id:
            keys.append(user_key(user_id))
        return any(self.id_hash(key) in hashes for key in keys)

    def __len__(self) -> int:
        return len(self._hashes)
