"""Engine factory: SQLite (embedded default) or PostgreSQL, configured for durable writes."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from shopwise.files import private_dir, private_file, restrict
from shopwise.settings import Settings

BUSY_SECONDS: Final = 30
"""How long a SQLite writer waits for the write lock before it fails ("database is locked")."""
CONNECT_TIMEOUT_SECONDS: Final = 3
"""How long a new PostgreSQL connection may take: a server that is down or restarting fails the
request at once (503) instead of holding it."""


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    # SQLite gives JSON columns NUMERIC affinity, so a stored scalar such as "2" comes back as 2
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def create_engine(settings: Settings) -> sa.Engine:
    """An engine for ``settings``: WAL and foreign keys on SQLite, psycopg 3 on PostgreSQL."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings.sqlite_synchronous)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


def _sqlite_engine(url: sa.URL, synchronous: str) -> sa.Engine:
    engine = sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # shopwise issues BEGIN itself (below), so writers can take the write lock up front
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cursor.close()

    if url.database and url.database != ":memory:":
        _private_database(Path(url.database))
        _GATED[engine] = _WriteGate.path_of(Path(url.database))

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode != _AUTOCOMMIT:
            conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _private_database(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it: SQLite gives the ``-wal`` and
    ``-shm`` files it makes the database file's mode. Files of an older store are restricted too.
    The folder is restricted only when created here (a URL may name a file in a shared one)."""
    private_dir(path.parent, claim=False)
    private_file(path)
    restrict(path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


class _WriteGate:
    """The queue of a SQLite file's writers, in every process that opens it.

    SQLite lets one connection write at a time, and one that finds the write lock taken polls for
    it, sleeping longer after each failed try. When the API's group commit waits behind a
    ``shopwise worker`` folding profiles, it can sleep through the gaps between the worker's
    transactions while the worker takes the lock again. Writers that pass this gate first queue
    in the kernel instead (a POSIX record lock on ``<database>-writers``, one per process) and
    in a lock between threads, and are woken the moment the writer before them is done.
    Re-entrant within a thread. Writers that bypass it (migrations, deferred transactions) still
    get SQLite's own waiting. A thread waits for the others of its process at most
    :data:`BUSY_SECONDS`, as for SQLite's lock, then fails as SQLite would; between processes it
    waits in the kernel without a limit, so a writer must never wait inside the gate for another
    process's write.
    """

    _open: Final[dict[tuple[Path, int], _WriteGate]] = {}
    _opening: Final = threading.Lock()

    def __init__(self, path: Path) -> None:
        self._path = path
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @staticmethod
    def path_of(database: Path) -> Path:
        """The gate file of ``database``."""
        return database.with_name(database.name + "-writers").resolve()

    @classmethod
    def of(cls, path: Path) -> _WriteGate:
        """The gate on the file ``path`` in this process (POSIX record locks belong to a process,
        and closing any descriptor of the file would drop them: one gate per file per process)."""
        with cls._opening:
            return cls._open.setdefault((path, os.getpid()), cls(path))

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self._threads.acquire(timeout=BUSY_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        try:
            if self._depth == 0:
                fcntl.lockf(self._descriptor(), fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.lockf(self._descriptor(), fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _descriptor(self) -> int:
        if self._fd is None:  # an exclusive record lock needs a descriptor open for writing
            self._fd = os.open(private_file(self._path), os.O_WRONLY)
        return self._fd


_GATED: Final[weakref.WeakKeyDictionary[sa.Engine, Path]] = weakref.WeakKeyDictionary()
"""The gate file of each SQLite engine with a gate."""


@contextmanager
def write_gate(engine: sa.Engine) -> Iterator[None]:
    """Queue for the write lock of ``engine``'s SQLite file (see :class:`_WriteGate`); a no-op on
    other engines and in-memory databases, whose writers the engine itself queues. The gate is
    this process's, looked up at each write, so a forked child never shares its parent's."""
    path = _GATED.get(engine)
    if path is None:
        yield
        return
    with _WriteGate.of(path).held():
        yield


_BEGIN_OPTION = "shopwise_sqlite_begin"
_AUTOCOMMIT = "AUTOCOMMIT"


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that will write: on SQLite it passes the :func:`write_gate` and takes the
    write lock at BEGIN (IMMEDIATE).

    A deferred SQLite transaction that reads first and writes later fails at once with "database
    is locked" when another writer committed in between (WAL snapshot upgrade); taking the lock up
    front makes it wait instead. Read-only work keeps using ``engine.connect()``, which never
    blocks on writers.
    """
    immediate = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    with write_gate(engine), immediate.begin() as conn:
        yield conn


class PointRead:
    """One SELECT run again and again on the hot path (a request's store read), one statement
    per call, each seeing the latest commit (no transaction around it).

    On SQLite the statement is compiled once and run through the driver on a pooled connection,
    JSON columns decoded as the engine would: serving's profile read on a cache miss
    (``Profiles.current``) then skips SQLAlchemy's per-statement bookkeeping, most of the read's
    cost (measured in ``docs/performance.md``). Elsewhere it runs through SQLAlchemy on an
    autocommit connection. Rows are tuples in the statement's column order either way.
    """

    def __init__(self, engine: sa.Engine, statement: sa.Select[Any]) -> None:
        self._engine = engine
        self._statement = statement
        self._autocommit = engine.execution_options(**{_BEGIN_OPTION: _AUTOCOMMIT})
        self._sqlite = is_sqlite(engine)
        compiled = statement.compile(dialect=engine.dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("a point read takes plain bound parameters, not expanding ones")
        self._sql = compiled.string
        self._names = tuple(compiled.positiontup or ())
        self._literals = dict(compiled.params)
        """Values bound in the statement itself (``column == "x"``); the caller's win."""
        self._json = [
            i for i, c in enumerate(statement.selected_columns) if isinstance(c.type, sa.JSON)
        ]

    def rows(self, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if not self._sqlite:
            with self._autocommit.connect() as conn:
                return [tuple(row) for row in conn.execute(self._statement, params)]
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                values = [params[n] if n in params else self._literals[n] for n in self._names]
                rows = cursor.execute(self._sql, values).fetchall()
            finally:
                cursor.close()
        finally:
            raw.close()
        return [self._decoded(row) for row in rows] if self._json else rows

    def _decoded(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i in self._json:
            if values[i] is not None:
                values[i] = _json_loads(values[i])
        return tuple(values)


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_once(engine: sa.Engine, table: sa.Table, *unique: str) -> sa.Insert:
    """INSERT that skips rows whose ``unique`` columns (a unique index) are already stored."""
    if is_sqlite(engine):
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(unique))
