"""Runtime configuration: environment variables, optionally a TOML file named by AIRELAY_CONFIG.

``Settings`` is the one definition of every setting: its name, type, default and bounds
(``msgspec.Meta``). Nothing else lists them: the environment variable of a field is
``AIRELAY_`` + its name in upper case (or the name its ``Meta`` gives, for Stripe's usual
variables), a key of the TOML file is the field's name (``database_url = "..."``), and a test
checks that README's table names every variable with its default.

Environment variables win over the file; an empty variable counts as unset. Values are
decoded by msgspec (``"8080"`` from the environment is the integer 8080) and checked
against the bounds; a bad value is refused at start-up with the variable or key named, and
the value echoed unless the setting is a secret. A key the file should not hold (a typo, a
setting that does not exist) is refused too, rather than silently ignored.
"""

from __future__ import annotations

import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from airelay.security.forwarded import parse_networks

DEFAULT_DATABASE_URL = "sqlite:///./data/airelay.db"

# Shorthands for the bounds below; ``extra`` carries what msgspec does not interpret.
_Seconds = Annotated[float, msgspec.Meta(gt=0)]
_Bytes = Annotated[int, msgspec.Meta(ge=1)]
_Secret = Annotated[str | None, msgspec.Meta(extra={"secret": True})]


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: Annotated[str, msgspec.Meta(min_length=1)] = DEFAULT_DATABASE_URL
    # Root management key ensured at start-up, and the key that encrypts upstream keys at rest.
    admin_key: Annotated[str, msgspec.Meta(pattern="^mgmt-", extra={"secret": True})] | None = None
    secret_key: _Secret = None
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080  # 0: any free port
    workers: Annotated[int, msgspec.Meta(ge=1, le=512)] = 1
    # Beside an SQLite database file unless set; ./data for other databases.
    data_dir: Path = Path("./data")
    stripe_api_key: Annotated[
        str | None, msgspec.Meta(extra={"secret": True, "env": "STRIPE_API_KEY"})
    ] = None
    stripe_webhook_secret: Annotated[
        str | None, msgspec.Meta(extra={"secret": True, "env": "STRIPE_WEBHOOK_SECRET"})
    ] = None
    # Where Stripe is reached (tests point it at a local fake) and where Checkout returns to.
    stripe_api_base: str | None = None
    checkout_success_url: str = "http://127.0.0.1:8080/billing/success"
    checkout_cancel_url: str = "http://127.0.0.1:8080/billing/cancel"
    # Seconds to wait for an upstream to answer (headers, then each chunk of a stream).
    upstream_timeout: _Seconds = 300.0
    upstream_connect_timeout: _Seconds = 10.0
    # Seconds one upstream call may take in all, from connecting to the last byte of the
    # answer, streams included (0: no limit). Streams are capped by max_stream_seconds too.
    upstream_total_timeout: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    # Connections open at once to one upstream origin; calls above it wait for one (within
    # the connect timeout). The default matches max_inflight_calls: a gateway in front of one
    # provider holds one connection per open stream, and long agent streams add up.
    upstream_max_connections_per_origin: Annotated[int, msgspec.Meta(ge=1)] = 4096
    # Use HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY from the environment for channels
    # without a proxy of their own.
    upstream_trust_env: bool = False
    # Largest request body accepted, in bytes (413 above it).
    max_body_bytes: _Bytes = 32 * 1024 * 1024
    # Largest upload a transcription or translation takes, in bytes (413 above it; OpenAI's
    # own limit). max_body_bytes still caps every body.
    max_audio_upload_bytes: _Bytes = 25 * 1024 * 1024
    # How often an instance checks the database for configuration written by another one.
    config_poll_seconds: _Seconds = 1.0
    # The least time between two writes of charges and usage rows (rows are written as soon
    # as they are queued, at most this often): about what a kill -9 can leave uncharged.
    # Each write costs the event loop a few milliseconds on PostgreSQL: at 0.05 s a call in
    # twenty-five waited behind one (c1 p99 +2.7 ms); at 0.25 s the tail is back near the
    # pass-through floor's (BENCHMARKS.md).
    billing_flush_seconds: Annotated[float, msgspec.Meta(ge=0)] = 0.25
    # After how long without a heartbeat a (crashed) instance's holds go back to their users.
    hold_stale_seconds: Annotated[int, msgspec.Meta(ge=1)] = 60
    # Days raw usage rows are kept (the daily rollups stay); 0 keeps them forever.
    usage_retention_days: Annotated[int, msgspec.Meta(ge=0)] = 0
    # Days a stored Responses API answer (``store: true``) stays readable and can be
    # continued with ``previous_response_id``; OpenAI keeps them 30 days.
    responses_retention_days: Annotated[int, msgspec.Meta(ge=1, le=36500)] = 30
    # Caps on what one upstream answer may cost the process: a whole (non-stream) answer
    # larger than this is dropped (502, failover); a stream is ended with an error event
    # after this many bytes from the upstream or this many seconds.
    max_upstream_answer_bytes: _Bytes = 16 * 1024 * 1024
    max_stream_bytes: _Bytes = 64 * 1024 * 1024
    max_stream_seconds: _Seconds = 1800.0
    # Seconds a client connection may take to send a request head, and stay idle between
    # requests (a slowloris client is cut off after it).
    client_header_timeout: _Seconds = 30.0
    # Serve the relay's busiest routes (POST chat completions, Messages, Responses) with the
    # gateway's own HTTP/1.1 front, which costs less CPU a call; false: aiohttp serves every
    # route, as it serves all the others.
    http_front: bool = True
    # Relay calls in flight per process above which new calls are refused (503, Retry-After)
    # rather than queued without bound.
    max_inflight_calls: Annotated[int, msgspec.Meta(ge=1)] = 4096
    # Seconds a non-stream call whose client went away keeps reading the upstream's answer
    # to bill the usage it reports; after that it is billed on the estimate.
    dropped_call_read_seconds: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    # The reverse proxies (addresses and networks, comma-separated: ``10.0.0.0/8, ::1``)
    # whose X-Forwarded-For names the client: key IP allow-lists and the sign-in throttle
    # see that client. Unset: the header is ignored and the client is the peer.
    trusted_proxies: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    # Shared state between instances (today: session affinity bindings); unset: in-process.
    # A secret: its URL may carry a password.
    redis_url: (
        Annotated[str, msgspec.Meta(pattern="^(redis|rediss|unix)://", extra={"secret": True})]
        | None
    ) = None
    # Seconds an instance waits for Redis (a connection, an answer) before it counts Redis
    # out of reach: the limits then do what ``limits_redis_failure`` says, and affinity and
    # configuration notices go on with what the instance holds. A Redis on this host or
    # network answers in well under a millisecond; longer only for a slower link.
    redis_timeout: Annotated[float, msgspec.Meta(gt=0, le=10)] = 0.2
    # What calls do while the Redis that holds the rate-limit counters cannot be reached:
    # ``closed`` refuses them (503 with Retry-After), ``open`` lets them pass uncounted.
    # Redis is tried again every second; no restart is needed when it is back.
    limits_redis_failure: Literal["closed", "open"] = "closed"
    # Whether an instance holds a share of a Redis rate-limit counter far from its limit
    # (a grant, counted in Redis) and takes its calls from it with no round trip; false
    # counts every call in Redis (``relay/limit_lease.py`` says what a grant costs).
    limits_leases: bool = True
    # The client of the rate-limit counters' scripts: ``pipelined`` (one connection per
    # process, commands pipelined; redis:// and unix:// URLs) or ``redis-py`` (the
    # library, a pooled connection per command in flight; also what rediss:// URLs use).
    redis_client: Literal["pipelined", "redis-py"] = "pipelined"
    # Where the console's failed-sign-in counts live in that Redis (with redis_url set they
    # are shared by every instance; ``limits_redis_failure`` also says what sign-ins do
    # while it is out of reach). Gateways that share a Redis but not their accounts set
    # different prefixes.
    login_throttle_prefix: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = (
        "airelay:login:"
    )
    # Seconds a conversation stays bound to the channel and key that served its last turn
    # (idle time: each turn renews it), so that the upstream's prompt cache stays warm;
    # 0 turns session affinity off.
    affinity_ttl: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    # Video generation tasks: seconds before a task's first poll upstream (later polls back
    # off from it); how long an instance owns a task it polls (another takes over after it,
    # when that instance died); how long a task may take before it is failed and refunded.
    video_poll_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    video_lease_seconds: Annotated[int, msgspec.Meta(ge=2, le=3600)] = 60
    video_max_wait_seconds: Annotated[int, msgspec.Meta(ge=1, le=7 * 86400)] = 3600
    # Channel health (relay.health): a channel or upstream key whose attempts fail this many
    # times in a row is skipped for circuit_cooldown_seconds, then one live call probes it;
    # 0 turns the breakers off (and with them the disabling of refused keys).
    circuit_failure_threshold: Annotated[int, msgspec.Meta(ge=0)] = 5
    # ... or when at least this share of its last circuit_window attempts failed (0: off).
    circuit_failure_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    circuit_window: Annotated[int, msgspec.Meta(ge=2, le=10000)] = 20
    circuit_cooldown_seconds: _Seconds = 30.0
    # Seconds an upstream key answered 401 or 403 stays disabled before a call probes it.
    upstream_key_disable_seconds: _Seconds = 300.0
    # Among channels of one priority, the fastest first (an EWMA of the time to the
    # upstream's response head) instead of the weighted shuffle.
    latency_routing: bool = False
    # One JSON line per request on the ``airelay.access`` logger (no prompt, no secret).
    access_log: bool = False
    # An OpenTelemetry collector's base URL (``http://collector:4318``): a span per relayed
    # call over OTLP/HTTP, with the ``otel`` extra installed. Unset, the standard
    # OTEL_EXPORTER_OTLP_ENDPOINT turns traces on as well; neither set, traces are off.
    otel_endpoint: Annotated[str, msgspec.Meta(pattern="^https?://")] | None = None
    # The console's address as its users reach it (``https://relay.example.com``): the links
    # of password-reset mails and the OpenID Connect redirect are built from it (never from
    # a request's Host header), and an https one marks session cookies Secure. It is also
    # the base of the image URLs the gateway hands out.
    public_url: Annotated[str, msgspec.Meta(pattern="^https?://[^/?#]+$")] | None = None
    # Password-reset mails (the console offers reset when smtp_host and public_url are set).
    smtp_host: str | None = None
    smtp_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 587
    smtp_username: str | None = None
    smtp_password: _Secret = None
    smtp_from: str = "airelay@localhost"
    smtp_starttls: bool = True
    # Console sign-in through an OpenID Connect provider (authorization code with PKCE);
    # on when the issuer and client id are set (and public_url, for the redirect). The
    # issuer ``github`` is the GitHub preset (OAuth 2.0 without OpenID Connect), reached at
    # the two GitHub URLs (GitHub Enterprise Server: https://HOST and https://HOST/api/v3).
    oidc_issuer: Annotated[str, msgspec.Meta(pattern="^(https?://|github$)")] | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: _Secret = None
    oidc_name: str = "OpenID Connect"
    oidc_github_url: Annotated[str, msgspec.Meta(pattern="^https?://[^?#]+$")] = (
        "https://github.com"
    )
    oidc_github_api_url: Annotated[str, msgspec.Meta(pattern="^https?://[^?#]+$")] = (
        "https://api.github.com"
    )
    # Images: where an image the upstream gave as bytes is kept when the client asked for
    # a URL (a local directory, <data_dir>/images unless set, or an S3-compatible bucket
    # when one is named; the URLs are built on public_url, else the origin each request
    # came to), how long such a URL answers, and how long an upstream's image task is
    # polled before the call fails.
    image_dir: Path | None = None
    image_url_ttl: Annotated[int, msgspec.Meta(ge=60, le=30 * 86400)] = 3600
    image_s3_bucket: Annotated[str, msgspec.Meta(min_length=3, max_length=63)] | None = None
    image_s3_endpoint: Annotated[str, msgspec.Meta(pattern="^https?://")] | None = None
    image_s3_region: Annotated[str, msgspec.Meta(min_length=1)] = "us-east-1"
    image_s3_access_key_id: _Secret = None
    image_s3_secret_access_key: _Secret = None
    image_task_timeout: _Seconds = 300.0


class ConfigError(ValueError):
    """A setting that cannot be used; the message names its variable or key."""


def env_name(field: msgspec.structs.FieldInfo) -> str:
    """The environment variable of a ``Settings`` field."""
    return str(_extra(field).get("env", "AIRELAY_" + field.name.upper()))


def fields() -> tuple[msgspec.structs.FieldInfo, ...]:
    return msgspec.structs.fields(Settings)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``env`` (default ``os.environ``) over the optional TOML file.
    Raises ``ConfigError`` for a bad value, an unknown key or an unreadable file."""
    env = os.environ if env is None else env
    by_name = {field.name: field for field in fields()}
    values: dict[str, Any] = {}
    config_file = env.get("AIRELAY_CONFIG")
    if config_file:
        for key, raw in _read_toml(config_file).items():
            field = by_name.get(key)
            if field is None:
                raise ConfigError(f"{key} in {config_file}: no such setting")
            values[key] = _decode(field, raw, f"{key} in {config_file}")
    for field in by_name.values():
        name = env_name(field)
        raw = env.get(name)
        if raw:
            values[field.name] = _decode(field, raw, name)
    if "data_dir" not in values:
        values["data_dir"] = _data_dir_for(values.get("database_url", DEFAULT_DATABASE_URL))
    settings = Settings(**values)
    if settings.trusted_proxies is not None:
        try:
            parse_networks(settings.trusted_proxies)
        except ValueError as exc:
            raise ConfigError(f"AIRELAY_TRUSTED_PROXIES: {exc}") from None
    if settings.oidc_issuer == "github" and not settings.oidc_client_secret:
        # GitHub's token endpoint takes no code without the OAuth app's secret, PKCE or not.
        raise ConfigError(
            "AIRELAY_OIDC_CLIENT_SECRET: GitHub sign-in (AIRELAY_OIDC_ISSUER=github) needs "
            "the OAuth app's client secret"
        )
    return settings


def _read_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"AIRELAY_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"AIRELAY_CONFIG: {path} is not valid TOML: {exc}") from exc


def _decode(field: msgspec.structs.FieldInfo, raw: object, source: str) -> Any:
    """``raw`` (a string from the environment, any TOML value) as the field's type, within
    its bounds. Lax: the environment holds only strings."""
    try:
        return msgspec.convert(raw, field.type, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        shown = "" if _extra(field).get("secret") else f" {raw!r}"
        raise ConfigError(f"{source}: invalid value{shown}: {exc}") from None


def _dec_hook(kind: type, value: Any) -> Any:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError


def _extra(field: msgspec.structs.FieldInfo) -> dict[str, Any]:
    """The ``extra`` of the field's ``Meta`` (``X | None`` included: the Meta is on X)."""
    for kind in (field.type, *typing.get_args(field.type)):
        for meta in getattr(kind, "__metadata__", ()):
            if isinstance(meta, msgspec.Meta) and meta.extra:
                return dict(meta.extra)
    return {}


def _data_dir_for(database_url: str) -> Path:
    """The data dir sits beside an SQLite file; for other databases it is ./data."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            return Path(path).parent
    return Path("./data")
