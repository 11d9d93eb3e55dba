"""Versioned decision rules and content blocks.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rule_sets",
        sa.Column("version", _BIG_ID, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_rule_sets"),
    )
    op.create_index("ix_rule_sets_kind", "rule_sets", ["kind"])


def downgrade() -> None:
    op.drop_table("rule_sets")
