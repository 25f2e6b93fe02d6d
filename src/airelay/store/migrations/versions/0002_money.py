"""Money: balance holds, the transaction ledger, usage logs and daily rollups, checkout
sessions, and the output cap of a model.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("max_output_tokens", sa.Integer, nullable=True))
    op.create_table(
        "balance_holds",
        sa.Column("instance_id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(200), nullable=True, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_transactions_user_time", "transactions", ["user_id", "created_at"])
    op.create_table(
        "usage_logs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("token_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("endpoint", sa.String(100), nullable=False),
        sa.Column("channel_id", sa.String(40), nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cached_tokens", sa.Integer, nullable=False),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
        sa.Column("latency_ms", sa.Integer, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(40), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_usage_logs_time", "usage_logs", ["created_at"])
    op.create_index("ix_usage_logs_user_time", "usage_logs", ["user_id", "created_at"])
    op.create_index("ix_usage_logs_model_time", "usage_logs", ["model", "created_at"])
    op.create_index("ix_usage_logs_token_time", "usage_logs", ["token_id", "created_at"])
    op.create_index("ix_usage_logs_channel_time", "usage_logs", ["channel_id", "created_at"])
    op.create_index("ix_usage_logs_request", "usage_logs", ["request_id"])
    op.create_table(
        "usage_daily",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("user_id", sa.String(40), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("channel_id", sa.String(40), primary_key=True),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False),
        sa.Column("cached_tokens", sa.BigInteger, nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_usage_daily_user_day", "usage_daily", ["user_id", "day"])
    op.create_index("ix_usage_daily_model_day", "usage_daily", ["model", "day"])
    op.create_table(
        "checkout_sessions",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "checkout_sessions",
        "usage_daily",
        "usage_logs",
        "transactions",
        "balance_holds",
    ):
        op.drop_table(table)
    with op.batch_alter_table("models") as batch:
        batch.drop_column("max_output_tokens")
