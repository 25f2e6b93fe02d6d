"""The ids of written usage batches: a flush whose COMMIT reply was lost is retried under
the same id, finds it, and is not written twice.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_batches",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("instance_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_billing_batches_time", "billing_batches", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_billing_batches_time", table_name="billing_batches")
    op.drop_table("billing_batches")
