"""Group commit: one writer thread turns concurrent submissions into one transaction and one fsync.

Each submission (a batch of valid rows and dead letters) gets a future that resolves only after the
transaction holding it has committed, so an acknowledged event is durable. Duplicates of a
``message_id`` already stored are skipped by the unique index and reported per submission.

On SQLite, a group without dead letters is written through the driver directly, as multi-row
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` statements (the same SQL SQLAlchemy would emit;
without ``RETURNING`` when no one hears of the rows, such as a group of exposures alone): the
writer thread then spends less CPU a row than through SQLAlchemy Core (``docs/performance.md``),
which leaves more of the GIL to the event loop that parses and validates the next requests.
Everything else takes the Core path.

A group is one transaction, so one row the database refuses (a value PostgreSQL cannot store, a
constraint) would fail every submission in it. When a group commit fails with such a data error,
the writer writes each submission alone, and a submission that still fails row by row: only the
refused row is left out, dead-lettered with the database's reason (:data:`STORE_REFUSED`) and
reported in its submission's :attr:`WriteOutcome.refused`. Operational errors (the database is
down or locked) still fail every waiting submission with :class:`~shopwise.errors.Unavailable`.
The path without failures is untouched.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import operator
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import sqlalchemy as sa

from shopwise.bus import StoredEvent
from shopwise.collect._validate import json_text
from shopwise.errors import Unavailable
from shopwise.schema import Columns
from shopwise.store import dead_letters, events, insert_once, write_gate, write_transaction

log = logging.getLogger("shopwise.collect")


STORE_REFUSED: Final = "store_refused"
"""Dead-letter code of a valid event the database refused to store (see module docstring)."""


@dataclass(frozen=True)
class StoreRefusal:
    """A row of a submission the database refused; it is dead-lettered with ``message``."""

    position: int
    """Index of the row in the submission's ``rows``."""
    code: str
    message: str


@dataclass(frozen=True)
class WriteOutcome:
    """What one submission became: the events stored, how many were already there, and the rows
    the database refused (neither stored nor duplicates)."""

    stored: list[StoredEvent]
    duplicates: int
    refused: list[StoreRefusal] = field(default_factory=list)


@dataclass
class _Submission:
    rows: list[dict[str, Any]]
    dead: list[dict[str, Any]]
    heard: bool = True
    """False for rows no one waits on and no listener reads (shopwise's own exposures)."""
    future: Future[WriteOutcome] = field(default_factory=Future)


class GroupCommitWriter:
    """The single writer of the event table (see module docstring)."""

    def __init__(
        self,
        engine: sa.Engine,
        on_commit: Callable[[Sequence[StoredEvent]], None],
        max_rows: int = 5000,
    ) -> None:
        self._engine = engine
        self._on_commit = on_commit
        self._max_rows = max_rows
        self._insert = insert_once(engine, events, Columns.MESSAGE).returning(
            events.c.id, events.c.message_id
        )
        self._insert_dead = insert_once(engine, dead_letters, "fingerprint")
        self._sqlite = engine.dialect.name == "sqlite"
        self._queue: queue.SimpleQueue[_Submission | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(
        self, rows: list[dict[str, Any]], dead: list[dict[str, Any]], heard: bool = True
    ) -> Future[WriteOutcome]:
        """Queue rows for the next group commit; the future resolves after the commit.

        ``heard=False``: the rows are stored, but neither the future's outcome nor the commit
        listeners list them (no :class:`StoredEvent` is built for them): for events that
        listeners skip anyway (exposures), on the serving path's budget.
        """
        if self._thread is None:
            raise Unavailable("the event writer is not running")
        submission = _Submission(rows, dead, heard)
        self._queue.put(submission)
        return submission.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            size = len(first.rows) + len(first.dead)
            stop = False
            while size < self._max_rows:
                try:
                    extra = self._queue.get_nowait()
                except queue.Empty:
                    break
                if extra is None:
                    stop = True
                    break
                group.append(extra)
                size += len(extra.rows) + len(extra.dead)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Submission]) -> None:
        rows = [row for sub in group for row in sub.rows]
        dead = [row for sub in group for row in sub.dead]
        try:
            inserted = self._write(rows, dead, any(sub.heard for sub in group))
        except Exception as exc:  # boundary: every waiting request learns the write failed
            if not refused_by_store(exc):
                self._settle(group, [_unavailable(exc, len(rows), len(dead))] * len(group))
                return
            log.warning(
                "the store refused a row of a group commit; writing its submissions alone",
                extra={"submissions": len(group), "reason": _reason(exc)},
            )
            self._settle(group, [self._alone(sub) for sub in group])
            return
        unclaimed = {message: event_id for event_id, message in inserted.items()}
        self._settle(
            group, [_outcome(sub.rows, unclaimed) if sub.heard else _UNHEARD for sub in group]
        )

    def _settle(self, group: list[_Submission], results: list[WriteOutcome | Unavailable]) -> None:
        """Tell the listeners of what was stored, then resolve each submission's future."""
        stored_all = [
            event
            for result in results
            if isinstance(result, WriteOutcome)
            for event in result.stored
        ]
        if stored_all:
            # before the acks: what a client was told is stored is visible to serving at once
            try:
                self._on_commit(stored_all)
            except Exception:  # boundary: listeners must not fail a durable commit
                log.exception("commit listener failed")
        for sub, result in zip(group, results, strict=True):
            if isinstance(result, Unavailable):
                sub.future.set_exception(result)
            else:
                sub.future.set_result(result)

    def _write(
        self, rows: list[dict[str, Any]], dead: list[dict[str, Any]], returning: bool
    ) -> dict[int, str]:
        """One transaction: the driver's path for event rows alone on SQLite, else Core's."""
        if self._sqlite and rows and not dead:
            return self._insert_sqlite(rows, returning)
        return self._insert_core(rows, dead)

    def _alone(self, sub: _Submission) -> WriteOutcome | Unavailable:
        """``sub`` in a transaction of its own; row by row when the store refuses one of it."""
        try:
            inserted = self._write(sub.rows, sub.dead, sub.heard)
        except Exception as exc:  # boundary: this submission's request learns of the failure
            if not refused_by_store(exc):
                return _unavailable(exc, len(sub.rows), len(sub.dead))
            return self._row_by_row(sub)
        unclaimed = {message: event_id for event_id, message in inserted.items()}
        return _outcome(sub.rows, unclaimed) if sub.heard else _UNHEARD

    def _row_by_row(self, sub: _Submission) -> WriteOutcome | Unavailable:
        """``sub``'s rows a transaction each; the refused ones dead-lettered with the reason."""
        inserted: dict[int, str] = {}
        refused: list[StoreRefusal] = []
        dead = list(sub.dead)
        for position, row in enumerate(sub.rows):
            try:
                inserted.update(self._write([row], [], sub.heard))
            except Exception as exc:  # boundary: one row refused, or the store is down
                if not refused_by_store(exc):
                    return _unavailable(exc, 1, 0)
                refused.append(StoreRefusal(position, STORE_REFUSED, _reason(exc)))
                dead.append(_refused_letter(row, refused[-1].message))
        failure = self._write_dead(dead)
        if failure is not None:
            return failure
        skipped = {refusal.position for refusal in refused}
        kept = [row for position, row in enumerate(sub.rows) if position not in skipped]
        unclaimed = {message: event_id for event_id, message in inserted.items()}
        outcome = _outcome(kept, unclaimed) if sub.heard else _UNHEARD
        return WriteOutcome(outcome.stored, outcome.duplicates, refused)

    def _write_dead(self, dead: list[dict[str, Any]]) -> Unavailable | None:
        """Dead letters together, or one by one when the store refuses one (which is logged:
        there is no other place left to keep it)."""
        if not dead:
            return None
        try:
            self._insert_core([], dead)
            return None
        except Exception as exc:  # boundary: refused letters are written alone below
            if not refused_by_store(exc):
                return _unavailable(exc, 0, len(dead))
        for letter in dead:
            try:
                self._insert_core([], [letter])
            except Exception as exc:  # boundary: a refused letter is logged, not lost silently
                if not refused_by_store(exc):
                    return _unavailable(exc, 0, 1)
                log.error("the store refused a dead letter", extra={"reason": _reason(exc)})
        return None

    def _insert_core(
        self, rows: list[dict[str, Any]], dead: list[dict[str, Any]]
    ) -> dict[int, str]:
        """Event rows and dead letters in one transaction; the inserted ``{id: message_id}``."""
        with write_transaction(self._engine) as conn:
            inserted = {row[0]: row[1] for row in conn.execute(self._insert, rows)} if rows else {}
            if dead:
                conn.execute(self._insert_dead, dead)
        return inserted

    def _insert_sqlite(self, rows: list[dict[str, Any]], returning: bool) -> dict[int, str]:
        """:meth:`_insert_core` for event rows alone, through the SQLite driver (same SQL).

        Without ``returning`` (nobody hears of these rows) the ids are not read back: empty.
        """
        names = tuple(name for name in _EVENT_COLUMNS if name in rows[0])
        inserted: dict[int, str] = {}
        conn = self._engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                with write_gate(self._engine):  # as write_transaction: gate, then the lock
                    cursor.execute("BEGIN IMMEDIATE")
                    start = 0
                    for count in _chunk_sizes(len(rows), _rows_per_statement(len(names))):
                        params = _flat_params(rows[start : start + count], names)
                        start += count
                        cursor.execute(_sqlite_insert(names, count, returning), params)
                        if returning:
                            inserted.update(cursor.fetchall())
                    cursor.execute("COMMIT")
            except BaseException:
                conn.rollback()  # a no-op when BEGIN itself failed
                raise
            finally:
                cursor.close()
        finally:
            conn.close()
        return inserted


def refused_by_store(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing a value (a data or integrity error, or a value
    the driver cannot bind), as opposed to an operational failure such as a lost connection."""
    if isinstance(exc, sa.exc.DBAPIError):
        return isinstance(exc, sa.exc.DataError | sa.exc.IntegrityError)
    # SQLAlchemy wraps what fails while binding a value (not a driver error) in StatementError
    return isinstance(exc, (sa.exc.StatementError, *_REFUSALS))


_REFUSALS: Final = (
    sqlite3.DataError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,  # a value of a type the driver cannot bind
    OverflowError,  # an integer past SQLite's 64 bits
    UnicodeError,
    TypeError,  # a JSON value orjson cannot write
)
"""What the SQLite driver path raises when one row holds a value the store refuses."""


def _reason(exc: BaseException) -> str:
    """The first line of the driver's message (the lines after it may quote the row's values)."""
    cause = exc.orig if isinstance(exc, sa.exc.StatementError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [""])[0][:300].replace("\x00", "")
    return f"the event store refused the event: {type(cause).__name__}: {first}"


def _unavailable(exc: BaseException, rows: int, dead: int) -> Unavailable:
    log.error("group commit failed", exc_info=exc, extra={"rows": rows, "dead": dead})
    return Unavailable(f"event store write failed: {exc.__class__.__name__}")


_ENVELOPE_FIELDS: Final = (
    Columns.MESSAGE,
    Columns.TYPE,
    Columns.ANONYMOUS,
    Columns.USER,
    Columns.TIME,
    Columns.CONTEXT,
    Columns.PROPERTIES,
)


def _refused_letter(row: dict[str, Any], reason: str) -> dict[str, Any]:
    """The dead letter of a refused row: its envelope fields (the time in epoch milliseconds,
    which validation reads back as such on replay), so a replay once the cause is fixed works."""
    raw = json_text({name: row[name] for name in _ENVELOPE_FIELDS if row.get(name) is not None})
    return {
        Columns.RECEIVED: int(time.time() * 1000),
        "key_id": row.get("key_id"),
        "fingerprint": hashlib.sha256(raw.encode()).hexdigest(),
        "raw": raw,
        "code": STORE_REFUSED,
        "message": reason,
    }


def _outcome(rows: list[dict[str, Any]], unclaimed: dict[str, int]) -> WriteOutcome:
    """Claim this submission's inserted rows (the first claimant of a message id wins)."""
    stored = []
    for row in rows:
        event_id = unclaimed.pop(row[Columns.MESSAGE], None)
        if event_id is not None:
            fields: dict[str, Any] = {name: row.get(name) for name in _FIELDS}
            stored.append(StoredEvent(id=event_id, **fields))
    return WriteOutcome(stored=stored, duplicates=len(rows) - len(stored))


_FIELDS = [name for name in StoredEvent.__slots__ if name != "id"]
_UNHEARD = WriteOutcome(stored=[], duplicates=0)

_EVENT_COLUMNS = [column.name for column in events.columns if column.name != Columns.EVENT_ID]
_JSON_COLUMNS = frozenset(
    column.name for column in events.columns if isinstance(column.type, sa.JSON)
)
_SQLITE_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
ROWS_PER_STATEMENT: Final = 256
"""Rows of one ``INSERT`` at most. The driver binds a statement's values in one call that holds
the GIL throughout, so a statement of thousands of rows stalls the event loop serving beside the
writer (each served answer's exposure row comes through here); ``docs/performance.md``."""


def _flat_params(rows: list[dict[str, Any]], names: tuple[str, ...]) -> list[Any]:
    """The rows' values for ``names``, row after row, JSON columns as the text SQLAlchemy would
    send (orjson, like the engine). Every row holds every name, as SQLAlchemy requires of the
    rows of one statement. Picked by ``itemgetter`` and converted a column at a time: about
    half the writer thread's Python time a row of a per-value loop."""
    width = len(names)
    pick = operator.itemgetter(*names) if width > 1 else lambda row: (row[names[0]],)
    params = list(itertools.chain.from_iterable(map(pick, rows)))
    for column, name in enumerate(names):
        if name in _JSON_COLUMNS:
            texts = [orjson.dumps(value).decode() for value in params[column::width]]
            params[column::width] = texts
    return params


def _rows_per_statement(width: int) -> int:
    """Rows of ``width`` values one statement holds: :data:`ROWS_PER_STATEMENT`, fewer where
    SQLite's limit on a statement's variables is lower."""
    return min(ROWS_PER_STATEMENT, _SQLITE_MAX_VARIABLES // width)


def _chunk_sizes(total: int, most: int) -> Iterator[int]:
    """Row counts of the statements for ``total`` rows: powers of two of at most ``most``, the
    largest first. SQLite compiles a statement per distinct text (its size grows with the row
    count) and the driver keeps compiled statements by text, so a batch of any size reuses at
    most a dozen compiled statements instead of compiling one afresh (``docs/performance.md``).
    Each statement is a single step with the GIL released, so the event loop hands the GIL
    over once a statement, not once a row (inserting row by row through ``executemany`` left
    the writer thread behind at saturation)."""
    size = 1 << (most.bit_length() - 1)
    while total > 0:
        while size > total:
            size //= 2
        yield size
        total -= size


@functools.lru_cache(maxsize=64)
def _sqlite_insert(names: tuple[str, ...], count: int, returning: bool) -> str:
    """``INSERT`` of ``count`` rows that skips stored message ids (returning the new ids)."""
    row = "(" + ", ".join("?" * len(names)) + ")"
    sql = (
        f"INSERT INTO {events.name} ({', '.join(names)}) VALUES {', '.join([row] * count)} "
        f"ON CONFLICT ({Columns.MESSAGE}) DO NOTHING"
    )
    return f"{sql} RETURNING {Columns.EVENT_ID}, {Columns.MESSAGE}" if returning else sql
