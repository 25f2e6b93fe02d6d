"""The media counters in the daily rollups: ``usage_daily.images`` (images generated),
``characters`` (text read aloud) and ``audio_seconds`` (audio heard), summed from the raw
rows as they are written, so that the counts outlive the raw rows' retention. Days rolled
up before this revision count 0 of each (their raw rows, if still kept, are not re-read).

Revision ID: 0015
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = ("images", "characters", "audio_seconds")


def upgrade() -> None:
    with op.batch_alter_table("usage_daily") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage_daily") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
