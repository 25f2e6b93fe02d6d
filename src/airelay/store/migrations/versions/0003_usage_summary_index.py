"""A covering index for the all-users usage summary per day and model.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = [
    "day",
    "model",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost",
]


def upgrade() -> None:
    op.create_index("ix_usage_daily_day_model_totals", "usage_daily", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_usage_daily_day_model_totals", table_name="usage_daily")
