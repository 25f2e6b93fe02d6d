"""Console accounts: e-mail verification and TOTP replay refusal.

- ``credentials.email_verified``: 0 while an account that signed up with verification on
  has not opened its link yet (it cannot sign in); every account before this revision,
  and every one made otherwise, counts as verified (server default 1).
- ``credentials.totp_last_step``: the last TOTP time step (Unix time // 30) a sign-in
  spent; a code of that step or an earlier one is refused, so a code seen once (over a
  shoulder, in a proxy's log) cannot sign in again within its validity window.
- ``email_verifications``: one-time verification tokens (only their SHA-256), as
  ``password_resets`` keeps reset tokens.

Revision ID: 0014
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("credentials") as batch:
        batch.add_column(
            sa.Column("email_verified", sa.Integer, nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger, nullable=True))
    op.create_table(
        "email_verifications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_email_verifications_user", "email_verifications", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_email_verifications_user", table_name="email_verifications")
    op.drop_table("email_verifications")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("totp_last_step")
        batch.drop_column("email_verified")
