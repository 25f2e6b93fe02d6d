"""Catalog models say whether they reason: ``models.reasoning`` (true for every model already
there, as for any model the catalog does not know). A translated call to a model marked
false asks it for no thinking.

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(
            sa.Column("reasoning", sa.Boolean, nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("reasoning")
