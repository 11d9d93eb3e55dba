"""The audit log over the store: appends that never fork the chain, reads, and verification.

An append reads the last entry's hash and inserts the new entry in one write transaction that
first takes a lock every appender in every process shares: on SQLite the database's write lock
(taken at BEGIN by :func:`~shopwise.store.write_transaction`), on PostgreSQL a transaction-level
advisory lock, taken at READ COMMITTED so the read after the wait sees the previous holder's
commit. Both locks are released by the commit, so the next appender reads the entry just made.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from shopwise.audit._chain import (
    GENESIS_HASH,
    AuditEntry,
    ChainHead,
    check_fields,
    entry_hash,
    stored_details,
)
from shopwise.audit._verify import ChainReport, ChainWalk
from shopwise.errors import InvalidInput
from shopwise.store import audit_log, is_sqlite, write_transaction

ADVISORY_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"shopwise.audit_log").digest()[:8], "big", signed=True
)
"""The PostgreSQL advisory lock appenders share. Advisory keys are one namespace per database,
so the key comes from a name rather than a small number another application might also pick."""

VERIFY_BATCH = 1000
"""Rows fetched at a time while verifying, so a long log streams instead of loading whole."""

_COLUMNS = (
    audit_log.c.id,
    audit_log.c.at,
    audit_log.c.actor,
    audit_log.c.action,
    audit_log.c.subject,
    audit_log.c.details,
    audit_log.c.prev_hash,
    audit_log.c.hash,
)

_AS_STORED = sa.select(
    *(c for c in _COLUMNS if c.name != "details"),
    # as text, decoded per row: details edited into invalid JSON must fail verification, not
    # stop it (the engine would raise while decoding the column)
    sa.cast(audit_log.c.details, sa.Text).label("details"),
).order_by(audit_log.c.id)

_LAST_HASH = sa.select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _entry(row: sa.Row[*tuple[Any, ...]]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _recomputed_hash(row: sa.Row[*tuple[Any, ...]]) -> str:
    try:
        details: Any = orjson.loads(row.details)
    except orjson.JSONDecodeError:
        details = row.details
    return entry_hash(row.prev_hash, row.at, row.actor, row.action, row.subject, details)


class AuditLog:
    """The append-only, hash-chained record of accesses to personal data and of changes that
    matter to privacy and operations.

    Callers pass ids, never values: the subject is a profile id, key id or rule version, and
    ``details`` holds ids, counts and names of things (purposes, fields changed), never personal
    data (emails, names, traits) nor secrets (API keys, tokens). The log cannot be erased from
    without breaking its chain, so whatever goes in stays for as long as the log does.

    Ids ascend in the order entries were appended. On PostgreSQL they may skip numbers (the
    sequence moves on past a rolled-back insert); the chain's links, not the ids, show deletions.

    Parameters
    ----------
    engine
        The store (migrated).
    clock
        Epoch milliseconds for ``at``; the wall clock unless a test fixes it.
    """

    def __init__(self, engine: sa.Engine, clock: Callable[[], int] = _now_ms) -> None:
        self._engine = engine
        self._clock = clock
        self._sqlite = is_sqlite(engine)
        # Threads of one process queue here rather than in SQLite's busy handler, which polls
        # the file lock with growing sleeps; the store's lock still serialises processes.
        self._lock = threading.Lock()

    def record(
        self,
        actor: str,
        action: str,
        subject: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append one entry and return it as stored.

        Parameters
        ----------
        actor
            ``key:<api key id>``, ``cli`` or ``system`` (at most 64 characters).
        action
            ``<noun>.<verb>``, e.g. ``profile.read``, ``privacy.erase`` (at most 64 characters).
        subject
            The id acted on, if any (at most 256 characters).
        details
            A JSON object of ids and counts; never personal data values or secrets.

        Raises
        ------
        InvalidInput
            A field too long for its column, or details that are not a JSON object.
        """
        check_fields(actor, action, subject)
        details = stored_details(details)
        with self._lock, write_transaction(self._engine) as conn:
            if not self._sqlite:
                self._lock_postgresql(conn)
            prev_hash = conn.execute(_LAST_HASH).scalar_one_or_none() or GENESIS_HASH
            # read under the lock, so times ascend along the chain as long as the clock does
            at = self._clock()
            digest = entry_hash(prev_hash, at, actor, action, subject, details)
            entry_id: int = conn.execute(
                audit_log.insert()
                .values(
                    at=at,
                    actor=actor,
                    action=action,
                    subject=subject,
                    details=details,
                    prev_hash=prev_hash,
                    hash=digest,
                )
                .returning(audit_log.c.id)
            ).scalar_one()
        return AuditEntry(entry_id, at, actor, action, subject, details, prev_hash, digest)

    def entries(
        self,
        after_id: int = 0,
        limit: int = 1000,
        action: str | None = None,
        subject: str | None = None,
    ) -> list[AuditEntry]:
        """Entries after ``after_id``, oldest first; page on with the last one's id.

        Parameters
        ----------
        after_id
            Only entries with a larger id.
        limit
            At most this many entries (at least 1).
        action, subject
            Only entries with this action / subject (the subject is not indexed: a scan).
        """
        if limit < 1:
            raise InvalidInput(f"limit must be at least 1, not {limit}")
        query = sa.select(*_COLUMNS).where(audit_log.c.id > after_id)
        if action is not None:
            query = query.where(audit_log.c.action == action)
        if subject is not None:
            query = query.where(audit_log.c.subject == subject)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(audit_log.c.id).limit(limit))
            return [_entry(row) for row in rows]

    def head(self) -> ChainHead:
        """How many entries the log holds and the last one's hash (:data:`GENESIS_HASH` when
        empty), read in one statement so the two agree while others append."""
        last = _LAST_HASH.scalar_subquery().correlate(None)
        query = sa.select(sa.func.count(), last).select_from(audit_log)
        with self._engine.connect() as conn:
            count, last_hash = conn.execute(query).one()
        return ChainHead(int(count), last_hash or GENESIS_HASH)

    def verify(self, head: ChainHead | tuple[int, str] | None = None) -> ChainReport:
        """Walk the whole chain in id order and report what does not hold.

        Each entry's hash is recomputed from its fields (an edit shows as ``hash mismatch``) and
        its ``prev_hash`` compared with the hash of the entry before (a deletion, or an edit
        covered by a recomputed hash, shows as ``broken link``). On SQLite, where ids never skip,
        missing ids are reported too. Entries deleted from the end break no link: pass the
        ``head`` of an earlier report, kept outside the store, to check that it is still there.

        Parameters
        ----------
        head
            ``(entries, hash)`` recorded earlier: the entry at that position must carry that
            hash, and the log must be at least that long.
        """
        walk = ChainWalk(dense_ids=self._sqlite, expected=head)
        with self._engine.connect() as conn:
            for row in conn.execution_options(yield_per=VERIFY_BATCH).execute(_AS_STORED):
                walk.check(row.id, row.prev_hash, row.hash, _recomputed_hash(row))
        return walk.report()

    @staticmethod
    def _lock_postgresql(conn: sa.Connection) -> None:
        # Under REPEATABLE READ or SERIALIZABLE (an engine may be set so) the snapshot would be
        # taken by the lock's statement, before the wait, and miss the entry the previous holder
        # appended: the chain would fork. READ COMMITTED reads afresh after the wait.
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))
