"""Engine factory: SQLite (embedded default) or PostgreSQL, configured for durable writes."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from shopwise.files import private_dir, private_file, restrict
from shopwise.settings import Settings

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
    if url.database and url.database != ":memory:":
        _private_database(Path(url.database))
    engine = sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=_json_loads,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # shopwise issues BEGIN itself (below), so writers can take the write lock up front
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

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


_BEGIN_OPTION = "shopwise_sqlite_begin"
_AUTOCOMMIT = "AUTOCOMMIT"


def write_transaction(engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN (IMMEDIATE).

    A deferred SQLite transaction that reads first and writes later fails at once with "database
    is locked" when another writer committed in between (WAL snapshot upgrade); taking the lock up
    front makes it wait for the busy timeout instead. Read-only work keeps using
    ``engine.connect()``, which never blocks on writers.
    """
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}).begin()


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
