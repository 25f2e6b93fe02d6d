"""Runtime configuration: environment variables, optionally a TOML file named by AIRELAY_CONFIG.

Environment variables win over the file. Keys in the file are the variable names without the
``AIRELAY_`` prefix, lower-case (``database_url = "..."``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./data/airelay.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    admin_key: str | None = None
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    data_dir: Path = Path("./data")
    stripe_api_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Where Stripe is reached (tests point it at a local fake) and where Checkout returns to.
    stripe_api_base: str | None = None
    checkout_success_url: str = "http://127.0.0.1:8080/billing/success"
    checkout_cancel_url: str = "http://127.0.0.1:8080/billing/cancel"
    # Seconds to wait for an upstream to answer (headers, then each chunk of a stream).
    upstream_timeout: float = 300.0
    upstream_connect_timeout: float = 10.0
    # Seconds one upstream call may take in all, from connecting to the last byte of the
    # answer, streams included (0: no limit). Streams are capped by max_stream_seconds too.
    upstream_total_timeout: float = 3600.0
    # Connections open at once to one upstream origin; calls above it wait for one (within
    # the connect timeout).
    upstream_max_connections_per_origin: int = 512
    # Use HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY from the environment for channels
    # without a proxy of their own.
    upstream_trust_env: bool = False
    # Largest request body accepted, in bytes (413 above it).
    max_body_bytes: int = 32 * 1024 * 1024
    # How often an instance checks the database for configuration written by another one.
    config_poll_seconds: float = 1.0
    # The least time between two writes of charges and usage rows (rows are written as soon
    # as they are queued, at most this often): about what a kill -9 can leave uncharged.
    # After how long without a heartbeat a (crashed) instance's holds go back to their users.
    billing_flush_seconds: float = 0.05
    hold_stale_seconds: int = 60
    # Days raw usage rows are kept (the daily rollups stay); 0 keeps them forever.
    usage_retention_days: int = 0
    # Caps on what one upstream answer may cost the process: a whole (non-stream) answer
    # larger than this is dropped (502, failover); a stream is ended with an error event
    # after this many bytes from the upstream or this many seconds.
    max_upstream_answer_bytes: int = 16 * 1024 * 1024
    max_stream_bytes: int = 64 * 1024 * 1024
    max_stream_seconds: float = 1800.0
    # Seconds a client connection may take to send a request head, and stay idle between
    # requests (a slowloris client is cut off after it).
    client_header_timeout: float = 30.0
    # Relay calls in flight per process above which new calls are refused (503, Retry-After)
    # rather than queued without bound.
    max_inflight_calls: int = 4096
    # Seconds a non-stream call whose client went away keeps reading the upstream's answer
    # to bill the usage it reports; after that it is billed on the estimate.
    dropped_call_read_seconds: float = 60.0


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


_FIELDS: dict[str, Callable[[Any], Any]] = {
    "database_url": str,
    "redis_url": str,
    "admin_key": str,
    "secret_key": str,
    "host": str,
    "port": int,
    "workers": int,
    "data_dir": Path,
    "upstream_timeout": float,
    "upstream_connect_timeout": float,
    "upstream_total_timeout": float,
    "upstream_max_connections_per_origin": int,
    "upstream_trust_env": _boolean,
    "max_body_bytes": int,
    "config_poll_seconds": float,
    "billing_flush_seconds": float,
    "hold_stale_seconds": int,
    "stripe_api_base": str,
    "checkout_success_url": str,
    "checkout_cancel_url": str,
    "usage_retention_days": int,
    "max_upstream_answer_bytes": int,
    "max_stream_bytes": int,
    "max_stream_seconds": float,
    "client_header_timeout": float,
    "max_inflight_calls": int,
    "dropped_call_read_seconds": float,
}

_UNPREFIXED = {"stripe_api_key": "STRIPE_API_KEY", "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET"}


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build the settings from ``env`` (default ``os.environ``) and the optional TOML file."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    config_file = env.get("AIRELAY_CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            for key, value in tomllib.load(fh).items():
                if key in _FIELDS or key in _UNPREFIXED:
                    values[key] = value
    for key in _FIELDS:
        raw = env.get("AIRELAY_" + key.upper())
        if raw not in (None, ""):
            values[key] = raw
    for key, name in _UNPREFIXED.items():
        raw = env.get(name)
        if raw not in (None, ""):
            values[key] = raw
    converted: dict[str, Any] = {}
    for key, value in values.items():
        kind = _FIELDS.get(key, str)
        try:
            converted[key] = kind(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid value for {key}: {value!r}") from exc
    if not converted.get("upstream_total_timeout", 0) >= 0:  # negative, NaN
        raise ValueError("upstream_total_timeout must be 0 (no limit) or more")
    if converted.get("upstream_max_connections_per_origin", 1) < 1:
        raise ValueError("upstream_max_connections_per_origin must be 1 or more")
    if "data_dir" not in converted:
        db_url = converted.get("database_url", DEFAULT_DATABASE_URL)
        converted["data_dir"] = _data_dir_for(db_url)
    return Settings(**converted)


def _data_dir_for(database_url: str) -> Path:
    """The data dir sits beside an SQLite file; for other databases it is ./data."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            return Path(path).parent
    return Path("./data")
