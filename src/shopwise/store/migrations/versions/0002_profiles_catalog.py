"""Profiles, the identity graph and the catalog.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("id_key", sa.String(140), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("link_ts", sa.BigInteger, nullable=True),
        sa.Column("link_user", sa.String(128), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id_key", name="pk_identities"),
    )
    op.create_index("ix_identities_profile_id", "identities", ["profile_id"])
    op.create_table(
        "profiles",
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("merged_into", sa.String(40), nullable=True),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("profile_id", name="pk_profiles"),
    )
    op.create_table(
        "products",
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("category", sa.JSON, nullable=False),
        sa.Column("brand", sa.String(200), nullable=True),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("sale_price", sa.Float, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stock", sa.Integer, nullable=True),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("image_url", sa.String(1000), nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("product_id", name="pk_products"),
    )
    op.create_index("ix_products_brand", "products", ["brand"])
    op.create_table(
        "catalog_changes",
        sa.Column("id", _BIG_ID, autoincrement=True),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("old", sa.JSON, nullable=True),
        sa.Column("new", sa.JSON, nullable=True),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_changes"),
    )
    op.create_index("ix_catalog_changes_product_id", "catalog_changes", ["product_id"])
    op.create_index("ix_catalog_changes_changed_at", "catalog_changes", ["changed_at"])


def downgrade() -> None:
    op.drop_table("catalog_changes")
    op.drop_table("products")
    op.drop_table("profiles")
    op.drop_table("identities")
