"""When the journeys' triggers must decide each profile again: one row per profile with an open
anchor or a wait for quiet hours to end.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.create_table(
        "trigger_wakeups",
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("wake_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("profile_id", name="pk_trigger_wakeups"),
    )
    op.create_index("ix_trigger_wakeups_wake_at", "trigger_wakeups", ["wake_at"])


def downgrade() -> None:
    op.drop_table("trigger_wakeups")
