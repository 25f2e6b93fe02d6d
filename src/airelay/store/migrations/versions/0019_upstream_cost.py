"""What calls cost the operator upstream, beside what users were charged:

- ``channels.cost_multiplier``: a call's list price x this exact decimal text; NULL: the
  channel's cost is not known.
- ``usage_logs.upstream_cost``: the call's upstream cost in units; NULL: not known.
- ``usage_daily.upstream_cost`` / ``cost_known_requests`` / ``cost_known_revenue``: the sum
  over the rows that know their cost, how many those are and what they were charged (the
  margin is that revenue minus that cost). Rows written before stay unknown.

Revision ID: 0019
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0014"
branch_labels = None
depends_on = None

_DAILY = ("upstream_cost", "cost_known_requests", "cost_known_revenue")


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("cost_multiplier", sa.String(32), nullable=True))
    with op.batch_alter_table("usage_logs") as batch:
        batch.add_column(sa.Column("upstream_cost", sa.BigInteger, nullable=True))
    with op.batch_alter_table("usage_daily") as batch:
        for name in _DAILY:
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage_daily") as batch:
        for name in reversed(_DAILY):
            batch.drop_column(name)
    with op.batch_alter_table("usage_logs") as batch:
        batch.drop_column("upstream_cost")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("cost_multiplier")
