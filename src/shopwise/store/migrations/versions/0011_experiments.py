"""Experiments and their sticky assignments.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("stopped_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
    )
    op.create_index("ix_experiments_status", "experiments", ["status"])
    op.create_table(
        "experiment_assignments",
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        sa.Column("assigned_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("experiment", "profile_id", name="pk_experiment_assignments"),
    )
    op.create_index(
        "ix_experiment_assignments_assigned_at", "experiment_assignments", ["assigned_at"]
    )
    op.create_index(
        "ix_experiment_assignments_profile_id", "experiment_assignments", ["profile_id"]
    )


def downgrade() -> None:
    op.drop_table("experiment_assignments")
    op.drop_table("experiments")
