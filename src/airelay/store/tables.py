"""The schema, as SQLAlchemy Core tables. Alembic migrations create exactly this.

Times are integer Unix seconds (one representation on SQLite and PostgreSQL); money is
integer units of 1e-10 USD (see ``airelay.money``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    true,
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
    # Calls of the key in flight at once; NULL: the rate_limits setting's default.
    Column("max_concurrency", Integer, nullable=True),
    # The quota's reset window: NULL (none), daily, weekly or monthly (UTC).
    Column("quota_period", String(16), nullable=True),
    # Spend in the window starting at ``period_start`` (a later window starts from 0).
    Column("period_used", BigInteger, nullable=False, server_default="0"),
    Column("period_start", BigInteger, nullable=True),
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
    # What the upstream serves natively; NULL: the channel type's default.
    Column("endpoints", JSON, nullable=True),
    # An egress proxy URL as a Fernet token (it may hold credentials); NULL: direct.
    Column("proxy", Text, nullable=True),
    # TLS options (custom CA, client certificate, verify); NULL: the defaults.
    Column("tls", JSON, nullable=True),
    # Anthropic beta name -> replacement (null strips it) for the anthropic-beta header.
    Column("anthropic_betas", JSON, nullable=True),
    # What the gateway sends this upstream at most (NULL: no limit): routing skips a
    # channel at its limit.
    Column("rpm", Integer, nullable=True),
    Column("tpm", Integer, nullable=True),
    Column("max_concurrency", Integer, nullable=True),
    # What the upstream costs the operator: a call's list price x this exact decimal text
    # ("0.85"); NULL: not known (``pricing.upstream_cost``).
    Column("cost_multiplier", String(32), nullable=True),
)

models = Table(
    "models",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("owned_by", String(100), nullable=False),
    Column("pricing", JSON, nullable=False),
    # The most a call may produce when it names no max_tokens (the reservation's worst case).
    Column("max_output_tokens", Integer, nullable=True),
    # False: the model does not reason; a translated call asks it for no thinking.
    Column("reasoning", Boolean, nullable=False, server_default=true()),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Money an instance has taken out of ``users.balance`` to serve reservations from memory.
# A crashed instance's holds go back to the balance once their heartbeat is stale.
balance_holds = Table(
    "balance_holds",
    metadata,
    Column("instance_id", String(40), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
)

# The part of a key's quota in one window (``window_start``; 0 for a quota without a
# period) an instance has set aside to reserve calls from memory, as balance_holds are for
# money. A crashed instance's holds are dropped once their heartbeat is stale.
quota_holds = Table(
    "quota_holds",
    metadata,
    Column("instance_id", String(40), primary_key=True),
    Column("token_id", String(40), ForeignKey("tokens.id"), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("heartbeat_at", BigInteger, nullable=False),
)

# The append-only ledger of balance credits: top-ups, checkouts, adjustments.
# ``reference`` makes a retried credit (Idempotency-Key, Stripe session) land once.
transactions = Table(
    "transactions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("reference", String(200), nullable=True, unique=True),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_transactions_user_time", "user_id", "created_at"),
)

# One row per billed call. Written in batches off the hot path.
usage_logs = Table(
    "usage_logs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("token_id", String(40), nullable=True),
    Column("model", String(200), nullable=False),
    Column("endpoint", String(100), nullable=False),
    Column("channel_id", String(40), nullable=True),
    Column("prompt_tokens", Integer, nullable=False),
    Column("completion_tokens", Integer, nullable=False),
    Column("cached_tokens", Integer, nullable=False),
    Column("reasoning_tokens", Integer, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Column("request_id", String(40), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # Cache writes (all of them, and the 1h part of them), priced apart from cache reads.
    Column("cache_write_tokens", Integer, nullable=False, server_default="0"),
    Column("cache_write_1h_tokens", Integer, nullable=False, server_default="0"),
    # 1 when the call went to the channel its session was bound to.
    Column("affinity", Integer, nullable=False, server_default="0"),
    # Images an image call delivered (what a per-image price bills).
    Column("images", Integer, nullable=False, server_default="0"),
    # What the audio endpoints bill: characters read aloud, seconds of audio heard.
    Column("characters", Integer, nullable=False, server_default="0"),
    Column("audio_seconds", Integer, nullable=False, server_default="0"),
    # What the call cost the operator upstream (units); NULL: its channel's cost not known.
    Column("upstream_cost", BigInteger, nullable=True),
    Index("ix_usage_logs_time", "created_at"),
    Index("ix_usage_logs_user_time", "user_id", "created_at"),
    Index("ix_usage_logs_model_time", "model", "created_at"),
    Index("ix_usage_logs_token_time", "token_id", "created_at"),
)

# The ids of usage batches written, each in the transaction that wrote it: a flush retried
# after its COMMIT reply was lost finds its id and is not written twice. Pruned by age.
billing_batches = Table(
    "billing_batches",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("instance_id", String(40), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_billing_batches_time", "created_at"),
)

# Daily totals per user, model and channel ('' when none); kept when raw rows expire.
usage_daily = Table(
    "usage_daily",
    metadata,
    Column("day", String(10), primary_key=True),
    Column("user_id", String(40), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("channel_id", String(40), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("cached_tokens", BigInteger, nullable=False),
    Column("reasoning_tokens", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=False),
    Column("cache_write_tokens", BigInteger, nullable=False, server_default="0"),
    # The media counters of the day's rows (``usage_logs.images``, ``characters``,
    # ``audio_seconds``).
    Column("images", BigInteger, nullable=False, server_default="0"),
    Column("characters", BigInteger, nullable=False, server_default="0"),
    Column("audio_seconds", BigInteger, nullable=False, server_default="0"),
    # The upstream cost of the rows that know it, how many those are and what they were
    # charged (the margin's revenue): rows of unknown cost count in neither.
    Column("upstream_cost", BigInteger, nullable=False, server_default="0"),
    Column("cost_known_requests", BigInteger, nullable=False, server_default="0"),
    Column("cost_known_revenue", BigInteger, nullable=False, server_default="0"),
    Index("ix_usage_daily_user_day", "user_id", "day"),
    Index("ix_usage_daily_model_day", "model", "day"),
    # Covers the all-users summary (per day and model) without touching the table.
    Index(
        "ix_usage_daily_day_model_totals",
        "day",
        "model",
        "requests",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "reasoning_tokens",
        "cost",
    ),
)

# Responses API answers kept for their user (``store: true``) until ``expires_at``.
responses = Table(
    "responses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("token_id", String(40), nullable=True),
    Column("model", String(200), nullable=False),
    Column("previous_response_id", String(64), nullable=True),
    # JSON text: the input items as the caller sent them, and the whole response object.
    Column("input_items", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_responses_user_time", "user_id", "created_at"),
    Index("ix_responses_expiry", "expires_at"),
)

checkout_sessions = Table(
    "checkout_sessions",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("completed_at", BigInteger, nullable=True),
)

# Asynchronous video generation tasks. ``reserved`` left the user's balance when the task
# was created; ``settled_at`` is set once, in the transaction that charges ``cost`` (and
# returns the rest) or refunds it all: the guard that makes settling exactly-once. The
# poller that holds ``lease_until`` (Unix seconds, 0: free) polls the upstream.
video_tasks = Table(
    "video_tasks",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("token_id", String(40), nullable=True),
    Column("model", String(200), nullable=False),
    Column("channel_id", String(40), nullable=True),
    Column("key_hash", String(64), nullable=True),  # which upstream key created it
    Column("upstream_id", String(300), nullable=True),  # never shown to the client
    Column("status", String(16), nullable=False),
    Column("progress", Integer, nullable=False, server_default="0"),
    Column("seconds", Integer, nullable=False),
    Column("resolution", String(32), nullable=True),
    Column("size", String(32), nullable=True),
    Column("prompt", Text, nullable=False),
    Column("unit_price", BigInteger, nullable=False),  # per second, at creation
    Column("multiplier", String(40), nullable=True),  # the user group's, "n/d"
    Column("reserved", BigInteger, nullable=False),
    Column("cost", BigInteger, nullable=True),
    Column("settled_at", BigInteger, nullable=True),
    Column("video_url", Text, nullable=True),
    Column("error_code", String(100), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("lease_owner", String(40), nullable=True),
    Column("lease_until", BigInteger, nullable=False, server_default="0"),
    Column("next_poll_at", BigInteger, nullable=False, server_default="0"),
    Column("polls", Integer, nullable=False, server_default="0"),
    Column("request_id", String(40), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("completed_at", BigInteger, nullable=True),
    Column("deleted_at", BigInteger, nullable=True),
    Index("ix_video_tasks_user_time", "user_id", "created_at"),
    Index("ix_video_tasks_due", "settled_at", "next_poll_at"),
)

# One-time codes that credit a balance. Only a hash of each code is kept (codes carry 128
# random bits: a plain SHA-256 is a sound storage hash); ``code_hint`` tells them apart.
# ``status``: active, disabled (by an operator), redeemed (``redeemed_by`` / ``_at`` set).
redemptions = Table(
    "redemptions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("code_hint", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("redeemed_by", String(40), ForeignKey("users.id"), nullable=True),
    Column("redeemed_at", BigInteger, nullable=True),
    Index("ix_redemptions_name", "name"),
)

# How a user signs in to the console: an argon2id password hash (none for a user who only
# signs in through OIDC), a role, a TOTP secret (encrypted, Fernet) once two-factor is set up.
credentials = Table(
    "credentials",
    metadata,
    Column("user_id", String(40), ForeignKey("users.id"), primary_key=True),
    Column("password_hash", Text, nullable=True),
    Column("role", String(16), nullable=False),
    Column("totp_secret", Text, nullable=True),
    Column("totp_enabled", Integer, nullable=False, server_default="0"),
    # "<issuer> <sub>" of the OpenID Connect account linked to this user.
    Column("oidc_subject", String(500), nullable=True, unique=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # 0 until the link of a sign-up made with e-mail verification on is opened.
    Column("email_verified", Integer, nullable=False, server_default="1"),
    # The last TOTP time step a sign-in spent: that code and older ones are refused.
    Column("totp_last_step", BigInteger, nullable=True),
)

# One-time codes that stand in for a TOTP code (a lost phone): SHA-256 hashes, each deleted
# when used (one DELETE: concurrent uses of one code let one through).
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False),
    Index("ix_recovery_codes_user", "user_id"),
)

# Console sign-ins. ``id`` is the SHA-256 of the cookie's secret (the cookie alone is never
# stored). ``stage``: ``password`` until a second factor is given where one is required,
# then ``full``. A root management key's session has no user and keeps that key's hash.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=True),
    Column("admin_key_hash", String(64), nullable=True),
    Column("role", String(16), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_web_sessions_user", "user_id"),
    Index("ix_web_sessions_expiry", "expires_at"),
)

# Password-reset links sent by e-mail: the SHA-256 of the link's token, used once.
password_resets = Table(
    "password_resets",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Index("ix_password_resets_user", "user_id"),
)

# One-time e-mail verification tokens (SHA-256), mailed at sign-up when verification is on.
email_verifications = Table(
    "email_verifications",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(40), ForeignKey("users.id"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    Index("ix_email_verifications_user", "user_id"),
)
