"""The relational store: Core tables, engine factory and migrations (SQLite or PostgreSQL)."""

from shopwise.store._engine import create_engine, is_sqlite, single_read, write_transaction
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
    customer_scores,
    dead_letters,
    events,
    identities,
    job_locks,
    job_runs,
    metadata,
    products,
    profiles,
    rule_sets,
    segment_memberships,
    segment_sizes,
)

__all__ = [
    "api_keys",
    "bus_offsets",
    "catalog_changes",
    "create_engine",
    "current_revisions",
    "customer_scores",
    "dead_letters",
    "downgrade",
    "events",
    "head_revisions",
    "identities",
    "is_current",
    "is_sqlite",
    "job_locks",
    "job_runs",
    "metadata",
    "products",
    "profiles",
    "rule_sets",
    "segment_memberships",
    "segment_sizes",
    "single_read",
    "upgrade",
    "write_transaction",
]
