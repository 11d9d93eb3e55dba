"""Online KPIs per hour and day bucket.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"

_KEYS = ("grain", "bucket_start", "placement", "model_version", "rule_version", "variant")
_COUNTS = (
    "impressions",
    "items_shown",
    "distinct_items",
    "catalog_size",
    "fallbacks",
    "visitors",
    "clicks",
    "adds",
    "orders",
)


def upgrade() -> None:
    op.create_table(
        "kpi_buckets",
        sa.Column("grain", sa.String(8), nullable=False),
        sa.Column("bucket_start", sa.BigInteger, nullable=False),
        sa.Column("placement", sa.String(100), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("rule_version", sa.String(32), nullable=False),
        sa.Column("variant", sa.String(100), nullable=False),
        *(sa.Column(name, sa.Integer, nullable=False) for name in _COUNTS),
        sa.Column("revenue", sa.Float, nullable=False),
        sa.Column("computed_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*_KEYS, name="pk_kpi_buckets"),
    )


def downgrade() -> None:
    op.drop_table("kpi_buckets")
