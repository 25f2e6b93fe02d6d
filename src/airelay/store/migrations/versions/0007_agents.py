"""What coding agents need from the store: stored Responses API answers, cache writes in the
usage books, per-channel Anthropic beta rules and the session-affinity mark.

- ``responses``: one row per answer a caller asked to keep (``store: true``), readable only
  by its user, until ``expires_at``. ``input_items`` and ``body`` are JSON text (a whole
  conversation can be large; no query looks inside them).
- ``usage_logs.cache_write_tokens`` / ``cache_write_1h_tokens``: cache writes, priced apart
  from reads (the 1h ones are a part of all writes); ``usage_daily.cache_write_tokens``.
- ``usage_logs.affinity``: 1 when the call went to its session's channel.
- ``channels.anthropic_betas``: a JSON object, beta name → replacement (``null`` strips it),
  applied to the ``anthropic-beta`` header sent to that channel.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("token_id", sa.String(40), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("previous_response_id", sa.String(64), nullable=True),
        sa.Column("input_items", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_responses_user_time", "responses", ["user_id", "created_at"])
    op.create_index("ix_responses_expiry", "responses", ["expires_at"])
    with op.batch_alter_table("usage_logs") as batch:
        batch.add_column(
            sa.Column("cache_write_tokens", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("cache_write_1h_tokens", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("affinity", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("usage_daily") as batch:
        batch.add_column(
            sa.Column("cache_write_tokens", sa.BigInteger, nullable=False, server_default="0")
        )
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("anthropic_betas", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("anthropic_betas")
    with op.batch_alter_table("usage_daily") as batch:
        batch.drop_column("cache_write_tokens")
    with op.batch_alter_table("usage_logs") as batch:
        batch.drop_column("affinity")
        batch.drop_column("cache_write_1h_tokens")
        batch.drop_column("cache_write_tokens")
    op.drop_index("ix_responses_expiry", table_name="responses")
    op.drop_index("ix_responses_user_time", table_name="responses")
    op.drop_table("responses")
