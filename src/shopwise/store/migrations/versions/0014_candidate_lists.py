"""Precomputed candidate lists in the store, one row per (recommender version, profile).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "candidate_lists",
        sa.Column("model_version", sa.String(40), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("scores", sa.LargeBinary, nullable=False),
        sa.Column("computed_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("model_version", "profile_id", name="pk_candidate_lists"),
    )
    op.create_index("ix_candidate_lists_profile_id", "candidate_lists", ["profile_id"])


def downgrade() -> None:
    op.drop_table("candidate_lists")
