"""The journeys' trigger decisions: one row per (trigger, profile, anchor).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "trigger_decisions",
        sa.Column("trigger", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("anchor", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("anchor_at", sa.BigInteger, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger, nullable=False),
        sa.Column("retry_at", sa.BigInteger, nullable=True),
        sa.Column("trigger_version", sa.BigInteger, nullable=False),
        sa.Column("message_id", sa.String(32), nullable=True),
        sa.Column("context", sa.JSON, nullable=True),
        sa.PrimaryKeyConstraint("trigger", "profile_id", "anchor", name="pk_trigger_decisions"),
    )
    op.create_index("ix_trigger_decisions_profile_id", "trigger_decisions", ["profile_id"])
    op.create_index("ix_trigger_decisions_decided_at", "trigger_decisions", ["decided_at"])
    op.create_index("ix_trigger_decisions_message_id", "trigger_decisions", ["message_id"])


def downgrade() -> None:
    op.drop_table("trigger_decisions")
