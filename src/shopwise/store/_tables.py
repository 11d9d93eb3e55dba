"""The relational schema as SQLAlchemy Core tables; Alembic migrations create exactly these.

Every personal row carries the canonical ``profile_id`` (or the raw ids that resolve to it) so
that the privacy stage can find and erase it.
"""

from __future__ import annotations

import sqlalchemy as sa

from shopwise.schema import SYSTEM_EVENT_TYPES, EventType
from shopwise.schema import Columns as C

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Autoincrement keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite."""

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column(C.EVENT_ID, BigId, primary_key=True, autoincrement=True),
    sa.Column(C.MESSAGE, sa.String(128), nullable=False, unique=True),
    sa.Column(C.TYPE, sa.String(80), nullable=False),
    sa.Column(C.ANONYMOUS, sa.String(128), nullable=True),
    sa.Column(C.USER, sa.String(128), nullable=True),
    sa.Column(C.SESSION, sa.String(64), nullable=True),
    sa.Column(C.TIME, sa.BigInteger, nullable=False, index=True),
    sa.Column(C.RECEIVED, sa.BigInteger, nullable=False),
    sa.Column(C.ITEM, sa.String(128), nullable=True),
    sa.Column(C.CONTEXT, sa.JSON, nullable=False),
    sa.Column(C.PROPERTIES, sa.JSON, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=True),
)
"""Accepted events. Times are epoch milliseconds; ``message_id`` is the dedupe key."""

SHOPPER_EVENTS_SQL = (
    f"{C.TYPE} NOT IN ({', '.join(repr(EventType(t).value) for t in sorted(SYSTEM_EVENT_TYPES))})"
)
"""The events that are the shopper's behaviour, not shopwise's own records (exposures)."""


def shopper_events() -> sa.TextClause:
    """:data:`SHOPPER_EVENTS_SQL` as a condition on ``events``. A query by anonymous or user id
    must carry it, word for word, to use the identity indexes: on SQLite they leave exposures
    out (see below), and SQLite uses a partial index only for a query that states its WHERE."""
    return sa.text(SHOPPER_EVENTS_SQL)


for _column in (C.ANONYMOUS, C.USER):
    # Exposures (one per served answer) are most of the rows written, each for a random shopper:
    # kept in these indexes, every answer dirtied a random index page, written again to the WAL
    # at each commit. Left out, an exposure appends to the pages it touches (its id, message id
    # and time all grow); it is found by shopper id by scanning exposures (erasure and export are
    # rare), never on the serving path. PostgreSQL keeps the full indexes (sqlite_where only).
    sa.Index(
        f"ix_events_{_column}",
        events.c[_column],
        sqlite_where=sa.text(SHOPPER_EVENTS_SQL),
    )

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(C.RECEIVED, sa.BigInteger, nullable=False, index=True),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("replayed_at", sa.BigInteger, nullable=True),
)
"""Rejected events, kept once (by payload fingerprint) with the reason until replayed."""

bus_offsets = sa.Table(
    "bus_offsets",
    metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
"""How far each consumer of the embedded bus has read the event table."""

identities = sa.Table(
    "identities",
    metadata,
    sa.Column("id_key", sa.String(140), primary_key=True),
    sa.Column(C.PROFILE, sa.String(40), nullable=False, index=True),
    sa.Column("link_ts", sa.BigInteger, nullable=True),
    sa.Column("link_user", sa.String(128), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""The identity graph: ``a:<anonymous_id>`` and ``u:<user_id>`` keys to canonical profile ids."""

profiles = sa.Table(
    "profiles",
    metadata,
    sa.Column(C.PROFILE, sa.String(40), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("merged_into", sa.String(40), nullable=True),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
"""Unified profiles (a fold of their events); merged ones point at the profile they joined."""

candidate_lists = sa.Table(
    "candidate_lists",
    metadata,
    sa.Column("model_version", sa.String(40), primary_key=True),
    sa.Column(C.PROFILE, sa.String(40), primary_key=True, index=True),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("scores", sa.LargeBinary, nullable=False),
    sa.Column("computed_at", sa.BigInteger, nullable=False),
)
"""Each canonical profile's precomputed list per recommender version: product ids best first and
their scores (little-endian float32), written by the worker's candidate refresh and read by
serving one shopper at a time. Personal (``profile_id``), so erasure removes a person's."""

products = sa.Table(
    "products",
    metadata,
    sa.Column(C.ITEM, sa.String(128), primary_key=True),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column(C.CATEGORY, sa.JSON, nullable=False),
    sa.Column(C.BRAND, sa.String(200), nullable=True, index=True),
    sa.Column(C.PRICE, sa.Float, nullable=False),
    sa.Column("sale_price", sa.Float, nullable=True),
    sa.Column(C.CURRENCY, sa.String(3), nullable=False),
    sa.Column("stock", sa.Integer, nullable=True),
    sa.Column("available", sa.Boolean, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("image_url", sa.String(1000), nullable=True),
    sa.Column("attributes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)
"""The catalog. Category is a path (list of names, root first); times are epoch ms."""

catalog_changes = sa.Table(
    "catalog_changes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(C.ITEM, sa.String(128), nullable=False, index=True),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("old", sa.JSON, nullable=True),
    sa.Column("new", sa.JSON, nullable=True),
    sa.Column("changed_at", sa.BigInteger, nullable=False, index=True),
)
"""History of price, sale price, stock and availability changes, for models and rules."""

rule_sets = sa.Table(
    "rule_sets",
    metadata,
    sa.Column("version", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Every version of the decision rules and content blocks (YAML); the newest of a kind is live."""

job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False, index=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
    sa.Column("finished_at", sa.BigInteger, nullable=True),
    sa.Column("detail", sa.JSON, nullable=False),
)
"""Every run of a scheduled job: status for the dashboard, and the lock (a running row)."""

job_locks = sa.Table(
    "job_locks",
    metadata,
    sa.Column("job", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)
"""One row per running job; a worker may take it only when absent or expired."""

customer_scores = sa.Table(
    "customer_scores",
    metadata,
    sa.Column(C.PROFILE, sa.String(40), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("model_version", sa.String(40), nullable=False),
    sa.Column("as_of", sa.BigInteger, nullable=False),
    sa.Column("scored_at", sa.BigInteger, nullable=False),
)
"""Current customer-model scores per canonical profile (propensities, CLV), replaced on refresh."""

segment_memberships = sa.Table(
    "segment_memberships",
    metadata,
    sa.Column(C.PROFILE, sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("segment", sa.String(100), primary_key=True),
    sa.Column("as_of", sa.BigInteger, nullable=False),
    sa.Column("scored_at", sa.BigInteger, nullable=False),
    sa.Index("ix_segment_memberships_kind_segment", "kind", "segment"),
)
"""Current membership of each profile: its K-Means segment and its rule audiences."""

segment_sizes = sa.Table(
    "segment_sizes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("as_of", sa.BigInteger, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("segment", sa.String(100), nullable=False),
    sa.Column("customers", sa.Integer, nullable=False),
    sa.Column("model_version", sa.String(40), nullable=True),
    sa.Column("recorded_at", sa.BigInteger, nullable=False),
)
"""Size of every segment and audience at each full refresh, for the dashboard's history."""

consent_changes = sa.Table(
    "consent_changes",
    metadata,
    sa.Column(C.MESSAGE, sa.String(128), primary_key=True),
    sa.Column("purpose", sa.String(32), primary_key=True),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column(C.ANONYMOUS, sa.String(128), nullable=True, index=True),
    sa.Column(C.USER, sa.String(128), nullable=True, index=True),
    sa.Column("occurred_at", sa.BigInteger, nullable=False),
    sa.Column("recorded_at", sa.BigInteger, nullable=False),
)
"""Every consent choice that changed a profile's consent (purpose or ``do_not_sell``), with the
policy version, source and time it was made: the history a shop must be able to show. Keyed by
the event that carried it; found by the person's ids."""

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("at", sa.BigInteger, nullable=False, index=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False, index=True),
    sa.Column("subject", sa.String(256), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)
"""Append-only, hash-chained record of accesses to personal data and of changes that matter to
privacy and operations; each entry's hash covers its fields and the previous entry's hash."""

privacy_requests = sa.Table(
    "privacy_requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column(C.PROFILE, sa.String(40), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("requested_by", sa.String(64), nullable=False),
    sa.Column("requested_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("details", sa.JSON, nullable=False),
)
"""Data subject requests (export, erasure) and their status. The person is named by the canonical
profile id only (a hash): after an erasure nothing here reveals who they were."""

suppressed_ids = sa.Table(
    "suppressed_ids",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(32), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
)
"""Keyed hashes of the ids of erased people: events sent for them later are dropped at ingestion."""

audience_exports = sa.Table(
    "audience_exports",
    metadata,
    sa.Column("export_id", sa.String(32), primary_key=True),
    sa.Column(C.PROFILE, sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("exported_at", sa.BigInteger, nullable=False),
    sa.Index("ix_audience_exports_profile_id", C.PROFILE),
)
"""Who was written in which audience export, so a person can be told where their data went."""

data_keys = sa.Table(
    "data_keys",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("wrapped", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("retired_at", sa.BigInteger, nullable=True),
)
"""Keys of PII encryption (``data``: the newest unretired one seals; ``index``: keyed hashes for
lookups), each wrapped by a key derived from the settings' secret, never stored in the clear."""

kpi_buckets = sa.Table(
    "kpi_buckets",
    metadata,
    sa.Column("grain", sa.String(8), primary_key=True),
    sa.Column("bucket_start", sa.BigInteger, primary_key=True),
    sa.Column("placement", sa.String(100), primary_key=True),
    sa.Column("model_version", sa.String(64), primary_key=True),
    sa.Column("rule_version", sa.String(32), primary_key=True),
    sa.Column("variant", sa.String(100), primary_key=True),
    sa.Column("impressions", sa.Integer, nullable=False),
    sa.Column("items_shown", sa.Integer, nullable=False),
    sa.Column("distinct_items", sa.Integer, nullable=False),
    sa.Column("catalog_size", sa.Integer, nullable=False),
    sa.Column("fallbacks", sa.Integer, nullable=False),
    sa.Column("visitors", sa.Integer, nullable=False),
    sa.Column("clicks", sa.Integer, nullable=False),
    sa.Column("adds", sa.Integer, nullable=False),
    sa.Column("orders", sa.Integer, nullable=False),
    sa.Column("revenue", sa.Float, nullable=False),
    sa.Column("computed_at", sa.BigInteger, nullable=False),
    sa.Column("visitor_sketch", sa.LargeBinary, nullable=True),
    sa.Column("item_sketch", sa.LargeBinary, nullable=True),
    sa.Column("order_sketch", sa.LargeBinary, nullable=True),
)
"""Online KPIs of the answers served in each UTC hour and day (``grain``; ``bucket_start`` in
epoch ms) per placement, model, rule version and variant: counts, which erasure leaves. The KPI
job replaces a bucket's rows whenever events touching it arrive. It also keeps rows of its own,
of grain ``slice`` (5 minutes), that it merges into hours, and hours into days: slice and hour
rows keep sketches of their distinct visitors, items and orders (no id can be read back from
them; an erasure takes a person's hashes out, see ``docs/privacy.md``); day rows keep none."""

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=True),
    sa.Column("stopped_at", sa.BigInteger, nullable=True),
)
"""Experiments: the definition as written (variants, weights, audience, metrics) and its status
(``draft``, ``running``, ``stopped``) with the times it started and stopped (epoch ms)."""

experiment_assignments = sa.Table(
    "experiment_assignments",
    metadata,
    sa.Column("experiment", sa.String(64), primary_key=True),
    sa.Column(C.PROFILE, sa.String(40), primary_key=True),
    sa.Column("variant", sa.String(100), nullable=False),
    sa.Column("assigned_at", sa.BigInteger, nullable=False, index=True),
    sa.Index("ix_experiment_assignments_profile_id", C.PROFILE),
)
"""Each canonical profile's first variant in an experiment, kept when weights change later
(sticky assignment); personal, so erasure removes a person's rows."""

outbox_messages = sa.Table(
    "outbox_messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("idempotency_key", sa.String(200), nullable=False, unique=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column(C.PROFILE, sa.String(40), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", sa.BigInteger, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
    sa.Column("delivered_at", sa.BigInteger, nullable=True),
    sa.Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
)
"""The transactional outbox of journeys: one row per message to deliver (email or webhook),
written in the transaction that decided it; a dispatcher claims due rows under a lease. An email
destination is sealed like PII traits; personal (``profile_id``), so erasure removes a person's."""

outbox_attempts = sa.Table(
    "outbox_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(32), nullable=False, index=True),
    sa.Column(C.PROFILE, sa.String(40), nullable=True, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("worker", sa.String(64), nullable=False),
    sa.Column("started_at", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("reply", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)
"""The delivery log: one row per attempt at an outbox message (HTTP status or SMTP reply code and
text, how long it took, the error), removed with the person's messages on erasure."""

trigger_decisions = sa.Table(
    "trigger_decisions",
    metadata,
    sa.Column("trigger", sa.String(64), primary_key=True),
    sa.Column(C.PROFILE, sa.String(40), primary_key=True, index=True),
    sa.Column("anchor", sa.String(200), primary_key=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(200), nullable=True),
    sa.Column("anchor_at", sa.BigInteger, nullable=False),
    sa.Column("due_at", sa.BigInteger, nullable=False),
    sa.Column("decided_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("retry_at", sa.BigInteger, nullable=True),
    sa.Column("trigger_version", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.String(32), nullable=True, index=True),
    sa.Column("context", sa.JSON, nullable=True),
)
"""Every decision of the journeys' triggers, one per (trigger, canonical profile, anchor: the cart,
view, order or catalog change that started it) so nothing fires twice across restarts: the outcome
(``fired``, ``holdout``, ``capped``, ``quiet`` while it waits, ``cancelled``, ``no_consent``,
``skipped``), the outbox message of a fired one and the message's personalization (PII sealed),
for previews. Personal (``profile_id``), so erasure removes a person's."""

trigger_wakeups = sa.Table(
    "trigger_wakeups",
    metadata,
    sa.Column(C.PROFILE, sa.String(40), primary_key=True),
    sa.Column("wake_at", sa.BigInteger, nullable=False, index=True),
)
"""When the journeys' triggers must decide each profile again though nothing about it changed:
the earliest due time of an anchor still open, or the end of the quiet hours one waits for,
written with the profile's decisions. Personal (``profile_id``), so erasure removes a person's."""
