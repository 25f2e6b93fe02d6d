"""What the audio endpoints bill, in the usage books: ``usage_logs.characters`` (text read
aloud by a speech call) and ``usage_logs.audio_seconds`` (audio a transcription or
translation heard, whole seconds rounded up), priced per 1M characters and per minute.

Revision ID: 0016
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_logs") as batch:
        batch.add_column(sa.Column("characters", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("audio_seconds", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage_logs") as batch:
        batch.drop_column("audio_seconds")
        batch.drop_column("characters")
