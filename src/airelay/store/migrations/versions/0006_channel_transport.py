"""Channel columns for the endpoints an upstream serves natively and for how it is reached:
``endpoints`` (a JSON list; NULL means the channel type's default), ``proxy`` (an egress
proxy URL, encrypted like the keys since it may carry credentials) and ``tls`` (a JSON
object of TLS options; NULL means the system's trust store and full verification).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("endpoints", sa.JSON, nullable=True))
        batch.add_column(sa.Column("proxy", sa.Text, nullable=True))
        batch.add_column(sa.Column("tls", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("tls")
        batch.drop_column("proxy")
        batch.drop_column("endpoints")
