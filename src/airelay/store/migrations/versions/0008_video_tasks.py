"""Asynchronous video generation tasks (``video_tasks``): owner, channel, the upstream's task
id, status, the money reserved at creation and settled once, and the poller's lease.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "video_tasks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("token_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("channel_id", sa.String(40), nullable=True),
        sa.Column("key_hash", sa.String(64), nullable=True),
        sa.Column("upstream_id", sa.String(300), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("seconds", sa.Integer, nullable=False),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.Column("size", sa.String(32), nullable=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("unit_price", sa.BigInteger, nullable=False),
        sa.Column("multiplier", sa.String(40), nullable=True),
        sa.Column("reserved", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=True),
        sa.Column("settled_at", sa.BigInteger, nullable=True),
        sa.Column("video_url", sa.Text, nullable=True),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("error_message", sa.Text, nullable=True),
        sa.Column("lease_owner", sa.String(40), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("next_poll_at", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("polls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_video_tasks_user_time", "video_tasks", ["user_id", "created_at"])
    op.create_index("ix_video_tasks_due", "video_tasks", ["settled_at", "next_poll_at"])


def downgrade() -> None:
    op.drop_table("video_tasks")
