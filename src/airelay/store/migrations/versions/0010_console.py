"""What the web console needs from the store: redemption codes.

- ``redemptions``: one-time codes that credit a balance once; only each code's SHA-256 is
  kept, with a short hint for display.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "redemptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("code_hint", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("redeemed_by", sa.String(40), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("redeemed_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_redemptions_name", "redemptions", ["name"])


def downgrade() -> None:
    op.drop_index("ix_redemptions_name", table_name="redemptions")
    op.drop_table("redemptions")
