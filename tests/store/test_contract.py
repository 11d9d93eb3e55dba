"""The store contract: every backend migrates, matches the declared tables, dedupes, round-trips."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from shopwise import store
from shopwise.audit import AuditLog
from shopwise.auth import KeyKind, KeyService
from shopwise.errors import AuthError, NotFound
from shopwise.settings import Settings


def test_new_store_is_not_current_until_upgraded(backend_settings: Settings) -> None:
    eng = store.create_engine(backend_settings)
    assert store.current_revisions(eng) == set()
    assert not store.is_current(eng)
    store.upgrade(eng)
    assert store.is_current(eng)
    store.upgrade(eng)  # idempotent
    assert store.current_revisions(eng) == store.head_revisions()
    eng.dispose()


def test_migrations_create_exactly_the_declared_tables(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), store.metadata)
    assert diff == []


def test_downgrade_to_base_and_back(engine: sa.Engine) -> None:
    store.downgrade(engine, "base")
    assert "events" not in sa.inspect(engine).get_table_names()
    store.upgrade(engine)
    assert {"events", "api_keys", "dead_letters"} <= set(sa.inspect(engine).get_table_names())


def test_message_id_is_unique(engine: sa.Engine) -> None:
    row = {
        "message_id": "m-1",
        "type": "page_viewed",
        "anonymous_id": "a",
        "timestamp": 1,
        "received_at": 2,
        "context": {},
        "properties": {"x": [1, 2]},
    }
    with engine.begin() as conn:
        conn.execute(store.events.insert(), [row])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(store.events.insert(), [row])
    with engine.connect() as conn:
        stored = conn.execute(sa.select(store.events.c.properties)).scalar_one()
    assert stored == {"x": [1, 2]}


def test_keys_round_trip(engine: sa.Engine) -> None:
    audit = AuditLog(engine)
    keys = KeyService(engine, audit, cache_seconds=0)
    key, plaintext = keys.create(KeyKind.SECRET, "backend")
    assert keys.verify(plaintext).id == key.id
    assert [k.id for k in keys.list()] == [key.id]
    keys.revoke(key.id)
    with pytest.raises(AuthError):
        keys.verify(plaintext)
    with pytest.raises(NotFound):
        keys.revoke(key.id)
    assert keys.list() == []
    assert [k.id for k in keys.list(include_revoked=True)] == [key.id]
    trail = [(e.actor, e.action, e.subject) for e in audit.entries()]
    assert trail == [("cli", "key.created", key.id), ("cli", "key.revoked", key.id)]


def test_sqlite_pragmas(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    eng = store.create_engine(Settings(data_dir=tmp_path))
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    eng.dispose()


def test_json_scalars_round_trip(engine: sa.Engine) -> None:
    """Regression: SQLite's NUMERIC affinity turned stored JSON "2" into the integer 2."""
    rows = [
        {"product_id": "p", "field": f, "old": old, "new": new, "changed_at": 1}
        for f, old, new in [("stock", 2, 0), ("price", 1.5, None), ("available", True, False)]
    ]
    with engine.begin() as conn:
        conn.execute(store.catalog_changes.insert(), rows)
    with engine.connect() as conn:
        got = conn.execute(
            sa.select(store.catalog_changes.c.old, store.catalog_changes.c.new).order_by(
                store.catalog_changes.c.id
            )
        ).all()
    assert [tuple(r) for r in got] == [(2, 0), (1.5, None), (True, False)]


def test_queries_by_shopper_id_use_the_identity_indexes(engine: sa.Engine) -> None:
    """On SQLite the identity indexes are partial (exposures left out): the profile queries
    must state their condition to use them, or every read by shopper id scans the events."""
    from shopwise.profiles._identity import attribution_filter
    from shopwise.store import SHOPPER_EVENTS_SQL, events

    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL keeps full identity indexes (the partial ones are SQLite's)")
    with engine.connect() as conn:
        indexes = conn.execute(
            sa.text("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'events'")
        ).all()
        partial = {name: sql for name, sql in indexes if name in _IDENTITY_INDEXES}
        assert set(partial) == set(_IDENTITY_INDEXES)
        assert all(SHOPPER_EVENTS_SQL in sql for sql in partial.values())
        query = sa.select(events.c.id).where(attribution_filter(["u1"], ["a1", "a2"]))
        compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
        plan = " ".join(
            str(row[-1]) for row in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))
        )
    assert "ix_events_user_id" in plan and "ix_events_anonymous_id" in plan, plan
    assert "SCAN events" not in plan, plan


_IDENTITY_INDEXES = ("ix_events_anonymous_id", "ix_events_user_id")


def test_point_reads_match_the_core_read_and_see_each_commit(engine: sa.Engine) -> None:
    """A hot-path read (the driver on SQLite) gives the rows SQLAlchemy gives, JSON decoded,
    and every call sees what was committed before it (no transaction kept open)."""
    statement = (
        sa.select(store.catalog_changes.c.product_id, store.catalog_changes.c.new)
        .where(store.catalog_changes.c.field.in_([sa.bindparam("a"), sa.bindparam("b")]))
        .where(store.catalog_changes.c.product_id != "q")  # a value bound in the statement
        .order_by(store.catalog_changes.c.id)
    )
    read = store.PointRead(engine, statement)
    assert read.rows({"a": "stock", "b": "price"}) == []
    rows = [
        {"product_id": "p", "field": f, "old": None, "new": new, "changed_at": 1}
        for f, new in [("stock", 2), ("price", {"eur": [1.5, None]}), ("title", "x")]
    ]
    rows.append({"product_id": "q", "field": "stock", "old": None, "new": 3, "changed_at": 1})
    with engine.begin() as conn:
        conn.execute(store.catalog_changes.insert(), rows)
    with engine.connect() as conn:
        core = [tuple(r) for r in conn.execute(statement, {"a": "price", "b": "stock"})]
    got = read.rows({"b": "stock", "a": "price"})
    assert got == core == [("p", 2), ("p", {"eur": [1.5, None]})]
    assert all(type(row) is tuple for row in got)
    with pytest.raises(ValueError, match="plain bound parameters"):
        store.PointRead(engine, statement.where(store.catalog_changes.c.id.in_([1, 2])))
