"""The schema, as SQLAlchemy Core tables. Alembic migrations create exactly this.

Times are integer Unix seconds (one representation on SQLite and PostgreSQL); money is
integer units of 1e-9 USD (see ``airelay.money``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

admin_keys = Table(
    "admin_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(320), nullable=True, unique=True),
    Column("name", String(200), nullable=True),
    Column("group", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("total_usage", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_hint", String(32), nullable=False),
    Column("permissions", JSON, nullable=False),
    Column("models", JSON, nullable=True),
    Column("ip_allowlist", JSON, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("quota", BigInteger, nullable=True),
    Column("used", BigInteger, nullable=False),
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
)

channels = Table(
    "channels",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("type", String(32), nullable=False),
    Column("base_url", String(500), nullable=False),
    # Fernet tokens, never plaintext.
    Column("api_keys", JSON, nullable=False),
    Column("models", JSON, nullable=False),
    Column("model_mapping", JSON, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("timeout", Float, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("owned_by", String(100), nullable=False),
    Column("pricing", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)
