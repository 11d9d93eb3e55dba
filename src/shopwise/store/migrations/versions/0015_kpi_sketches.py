"""Sketches of the distinct visitors, items and orders of KPI slice and hour rows, merged into
the hours' and days' counts.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    with op.batch_alter_table("kpi_buckets") as batch:
        batch.add_column(sa.Column("visitor_sketch", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("item_sketch", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("order_sketch", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kpi_buckets") as batch:
        batch.drop_column("order_sketch")
        batch.drop_column("item_sketch")
        batch.drop_column("visitor_sketch")
