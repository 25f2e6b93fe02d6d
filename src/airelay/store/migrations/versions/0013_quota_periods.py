"""Budgets with reset windows, held exactly across instances.

- ``tokens.quota_period``: NULL (the quota is for the key's life), ``daily``, ``weekly`` or
  ``monthly`` (UTC windows, see ``airelay.store.quota_window``).
- ``tokens.period_used`` / ``period_start``: what the key spent in the window starting at
  ``period_start`` (a later window starts again from 0).
- ``quota_holds``: the part of a key's quota in a window that an instance has set aside to
  reserve calls from memory; the sum of the holds and the window's spend never passes the
  quota (see ``airelay.store.quota_holds``).

Revision ID: 0013
Revises: 0019
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("quota_period", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("period_used", sa.BigInteger, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("period_start", sa.BigInteger, nullable=True))
    op.create_table(
        "quota_holds",
        sa.Column("instance_id", sa.String(40), primary_key=True),
        sa.Column("token_id", sa.String(40), sa.ForeignKey("tokens.id"), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quota_holds")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("period_start")
        batch.drop_column("period_used")
        batch.drop_column("quota_period")
