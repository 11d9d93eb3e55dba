"""On SQLite, the identity indexes of ``events`` leave exposures out (partial indexes).

An exposure is written for every served answer, each for a random shopper; in the anonymous and
user id indexes each one dirtied a random page that the next commit wrote to the WAL again. The
indexes now hold only the shopper's behaviour (``shopwise.store.SHOPPER_EVENTS_SQL``), which is
what queries by shopper id read. PostgreSQL keeps the full indexes.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

_INDEXES = {"ix_events_anonymous_id": "anonymous_id", "ix_events_user_id": "user_id"}
_SHOPPER_EVENTS = "type NOT IN ('recommendation_viewed')"
"""``SHOPPER_EVENTS_SQL`` as of this revision (a migration does not follow later code)."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, column in _INDEXES.items():
        op.drop_index(name, table_name="events")
        op.create_index(name, "events", [column], sqlite_where=sa.text(_SHOPPER_EVENTS))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, column in _INDEXES.items():
        op.drop_index(name, table_name="events")
        op.create_index(name, "events", [column])
