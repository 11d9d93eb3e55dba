"""Engine factory: SQLite (embedded default) or PostgreSQL, configured for durable writes."""

from __future__ import annotations

import sqlite3
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
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"
