"""Data subject requests, the suppression list of erased ids and the audience-export ledger.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_requests"),
    )
    op.create_index("ix_privacy_requests_profile_id", "privacy_requests", ["profile_id"])
    op.create_index("ix_privacy_requests_status", "privacy_requests", ["status"])
    op.create_table(
        "suppressed_ids",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_suppressed_ids"),
    )
    op.create_table(
        "audience_exports",
        sa.Column("export_id", sa.String(32), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("exported_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("export_id", "profile_id", name="pk_audience_exports"),
    )
    op.create_index("ix_audience_exports_profile_id", "audience_exports", ["profile_id"])


def downgrade() -> None:
    op.drop_table("audience_exports")
    op.drop_table("suppressed_ids")
    op.drop_table("privacy_requests")
