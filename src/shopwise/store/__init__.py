"""The relational store: Core tables, engine factory and migrations (SQLite or PostgreSQL)."""

from shopwise.store._engine import create_engine, is_sqlite
from shopwise.store._migrate import (
    current_revisions,
    downgrade,
    head_revisions,
    is_current,
    upgrade,
)
from shopwise.store._tables import (
    api_keys,
    bus_offsets,
    catalog_changes,
    dead_letters,
    events,
    identities,
    metadata,
    products,
    profiles,
)

__all__ = [
    "api_keys",
    "bus_offsets",
    "catalog_changes",
    "create_engine",
    "current_revisions",
    "dead_letters",
    "downgrade",
    "events",
    "head_revisions",
    "identities",
    "is_current",
    "is_sqlite",
    "metadata",
    "products",
    "profiles",
    "upgrade",
]
