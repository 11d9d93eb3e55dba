"""Engine factory: SQLite (embedded default) or PostgreSQL, configured for durable writes."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from shopwise.settings import Settings


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
        url, json_serializer=_json_dumps, json_deserializer=_json_loads, pool_pre_ping=True
    )


def _sqlite_engine(url: sa.URL, synchronous: str) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
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


def single_read(engine: sa.Engine) -> sa.Connection:
    """A connection for one read statement on the hot path: on SQLite no BEGIN round trip.

    Each statement then sees the latest commit on its own, so use it only where a single
    statement answers the question.
    """
    return engine.execution_options(**{_BEGIN_OPTION: _AUTOCOMMIT}).connect()


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"
