"""Rate and concurrency limits the gateway enforces.

- ``tokens.max_concurrency``: calls of the key in flight at once (NULL: the default of the
  ``rate_limits`` setting).
- ``channels.rpm`` / ``tpm`` / ``max_concurrency``: what the gateway sends one upstream at
  most (NULL: no limit); a channel at its limit is skipped by routing and failover.

Revision ID: 0009
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("max_concurrency", sa.Integer, nullable=True))
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("rpm", sa.Integer, nullable=True))
        batch.add_column(sa.Column("tpm", sa.Integer, nullable=True))
        batch.add_column(sa.Column("max_concurrency", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("max_concurrency")
        batch.drop_column("tpm")
        batch.drop_column("rpm")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("max_concurrency")
