"""Wrapped keys of PII encryption.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", _BIG_ID, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("wrapped", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("retired_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_data_keys"),
    )


def downgrade() -> None:
    op.drop_table("data_keys")
