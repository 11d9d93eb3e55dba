"""Customer-intelligence scores, segment memberships and segment sizes over time.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customer_scores",
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        sa.Column("scored_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "name", name="pk_customer_scores"),
    )
    op.create_table(
        "segment_memberships",
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("segment", sa.String(100), nullable=False),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        sa.Column("scored_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("profile_id", "kind", "segment", name="pk_segment_memberships"),
    )
    op.create_index(
        "ix_segment_memberships_kind_segment", "segment_memberships", ["kind", "segment"]
    )
    op.create_table(
        "segment_sizes",
        sa.Column("id", _BIG_ID, autoincrement=True),
        sa.Column("as_of", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("segment", sa.String(100), nullable=False),
        sa.Column("customers", sa.Integer, nullable=False),
        sa.Column("model_version", sa.String(40), nullable=True),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_segment_sizes"),
    )
    op.create_index("ix_segment_sizes_as_of", "segment_sizes", ["as_of"])


def downgrade() -> None:
    op.drop_table("segment_sizes")
    op.drop_table("segment_memberships")
    op.drop_table("customer_scores")
