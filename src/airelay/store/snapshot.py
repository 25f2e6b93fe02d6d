"""The in-memory picture of configuration that the hot path reads: keys, channels, models.

Built from the database at start-up and polled so that writes made by another instance show
up within ``config_poll_seconds``; the writing instance refreshes at once. A write of one key,
user, channel, catalog model or the settings (see ``store.config_log``) reads that entity
again alone (a channel's routes are rebuilt in memory from the records); any other write
(a bulk import, an admin key) rebuilds the whole snapshot. Requests read a ``Snapshot``
without any database round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from airelay.formats.names import TASK_ENDPOINTS, Endpoint, routable, with_parts
from airelay.pricing import Price, cost_fraction
from airelay.providers.base import Provider
from airelay.providers.presets import PRESETS
from airelay.security.crypto import SecretBox
from airelay.store import admin_keys, config_log, crud, meta, tables
from airelay.store import channels as channels_repo
from airelay.store import models as models_repo
from airelay.store import tokens as tokens_repo
from airelay.store import users as users_repo
from airelay.store.unavailable import OutageLog

if TYPE_CHECKING:
    from airelay.store.config_bus import ConfigBus
from airelay.transport.options import TlsOptions, proxy_secrets, tls_from_document

log = logging.getLogger(__name__)
T = TypeVar("T")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_ENDPOINT_NAMES = frozenset(endpoint.value for endpoint in Endpoint)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    key_hash: str
    user_id: str
    name: str
    status: str
    user_status: str
    user_group: str
    expires_at: int | None
    permissions: frozenset[str]
    models: frozenset[str] | None
    ip_networks: tuple[IPNetwork, ...] | None
    quota: int | None
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None = None
    quota_period: str | None = None  # the window the quota resets on (None: never)


@dataclass(slots=True)
class ChannelRecord:
    id: str
    name: str
    type: str
    base_url: str
    api_keys: tuple[str, ...]
    models: frozenset[str]
    model_mapping: dict[str, str]
    priority: int
    weight: int
    status: str
    timeout: float | None
    # What the upstream serves natively: the stored list, or the channel type's default.
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    # How the upstream is reached (decrypted; never shown): None is direct and the defaults.
    proxy: str | None = field(default=None, repr=False)
    tls: TlsOptions | None = field(default=None, repr=False)
    # Beta name -> replacement (None strips it) for the ``anthropic-beta`` header a client
    # sent, when the channel's provider passes that header on; None: no rules.
    anthropic_betas: dict[str, str | None] | None = None
    # What the gateway sends this upstream at most (None: no limit).
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    # What a call costs upstream: its list price x this; None: not known.
    cost_multiplier: Fraction | None = None
    _key_cycle: Iterator[str] = field(init=False, repr=False)
    _cache: dict[Hashable, Any] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._key_cycle = itertools.cycle(self.api_keys or ("",))

    def next_key(self) -> str:
        """The upstream keys are used in turn; "" for a channel without keys (a type whose
        upstream takes calls without one)."""
        return next(self._key_cycle)

    def cached(self, name: Hashable, make: Callable[[], T]) -> T:
        """A value derived from this channel alone (URLs, headers), made once per snapshot."""
        try:
            return self._cache[name]  # type: ignore[no-any-return]
        except KeyError:
            value = self._cache[name] = make()
            return value

    def upstream_model(self, public_model: str) -> str:
        return self.model_mapping.get(public_model, public_model)

    def secrets(self) -> tuple[str, ...]:
        """What a message passed on to a client must not show: keys, URL, proxy."""
        return self.cached("secrets", self._secrets)

    def _secrets(self) -> tuple[str, ...]:
        proxy = () if self.proxy is None else proxy_secrets(self.proxy)
        return (*self.api_keys, self.base_url, *proxy)


@dataclass(frozen=True, slots=True)
class Snapshot:
    keys: dict[str, KeyRecord]
    admin_hashes: frozenset[str]
    channels: tuple[ChannelRecord, ...]
    # Public model name -> the active channels that serve it chat calls.
    routes: dict[str, tuple[ChannelRecord, ...]]
    # Endpoint -> public model name -> the active channels that serve that endpoint
    # (``routes`` is the chat entry).
    endpoint_routes: dict[Endpoint, dict[str, tuple[ChannelRecord, ...]]]
    # Every model name some channel lists, active or not, or the catalog holds.
    known_models: frozenset[str]
    catalog: dict[str, dict[str, Any]]
    # Model -> its prices; a model absent here has no price and cannot be called.
    prices: dict[str, Price]
    # User group -> price multiplier (groups not listed pay list price).
    group_multipliers: dict[str, Fraction]
    # The channel rows as stored (secrets sealed), in load order: a change of one channel
    # rebuilds the routes from these and the records in memory (``apply_changes``).
    channel_rows: tuple[dict[str, Any], ...] = ()
    # The stored ``rate_limits`` setting (``relay.limit_policy`` reads it) and whether the
    # gateway is in maintenance (client routes answer 503).
    rate_limits: dict[str, Any] = field(default_factory=dict)
    maintenance: bool = False
    # Channel id -> its cost multiplier (``pricing.upstream_cost``); a channel absent here
    # has no known cost.
    channel_costs: dict[str, Fraction] = field(default_factory=dict)

    def reasons(self, model: str) -> bool:
        """Whether ``model`` reasons: false only when its catalog entry says so."""
        row = self.catalog.get(model)
        return row is None or row.get("reasoning", True) is not False


def key_record(row: dict[str, Any], user_status: str, user_group: str) -> KeyRecord:
    """A ``tokens`` row and its user's status and group, as the hot path reads them."""
    return KeyRecord(
        id=row["id"],
        key_hash=row["key_hash"],
        user_id=row["user_id"],
        name=row["name"],
        status=row["status"],
        user_status=user_status,
        user_group=user_group,
        expires_at=row["expires_at"],
        permissions=frozenset(row["permissions"]),
        models=frozenset(row["models"]) if row["models"] is not None else None,
        ip_networks=parse_networks(row["ip_allowlist"]),
        quota=row["quota"],
        rpm=row["rpm"],
        tpm=row["tpm"],
        max_concurrency=row.get("max_concurrency"),
        quota_period=row.get("quota_period"),
    )


async def reload_keys(
    conn: AsyncConnection, keys: dict[str, KeyRecord], changes: list[tuple[str, str]]
) -> dict[str, KeyRecord]:
    """``keys`` with the records of the keys and users in ``changes`` read again: a few
    rows per change, and a dict copy in memory, instead of every key in the database."""
    token_ids = {entity for kind, entity in changes if kind == config_log.TOKEN}
    user_ids = {entity for kind, entity in changes if kind == config_log.USER}
    fresh: list[tuple[dict[str, Any], str, str]] = []
    for token_id in sorted(token_ids):
        fresh += await tokens_repo.with_owner(conn, token_id=token_id)
    for user_id in sorted(user_ids):
        fresh += await tokens_repo.with_owner(conn, user_id=user_id)
    updated = {
        key_hash: record
        for key_hash, record in keys.items()
        if record.id not in token_ids and record.user_id not in user_ids
    }
    for row, status, group in fresh:
        updated[row["key_hash"]] = key_record(row, status, group)
    return updated


def channel_models(row: dict[str, Any]) -> list[str]:
    """The public models of a channel: its list plus the names its mapping renames."""
    names = list(row["models"])
    names.extend(name for name in row["model_mapping"] if name not in names)
    return names


def channel_endpoints(row: dict[str, Any], provider: Provider) -> frozenset[Endpoint]:
    """The endpoints a channel row serves: its ``endpoints`` column, or its type's default
    when that is NULL; never one its type cannot serve (a file import that changed only the
    type) nor a name this release does not know."""
    stored = row.get("endpoints")
    if stored is None:
        return provider.default_endpoints
    named = frozenset(Endpoint(name) for name in stored if name in _ENDPOINT_NAMES)
    return named & provider.endpoints


def group_multipliers(stored_settings: dict[str, Any]) -> dict[str, Fraction]:
    raw = stored_settings.get("group_multipliers") or {}
    return {group: Fraction(str(value)) for group, value in raw.items()}


@dataclass(frozen=True, slots=True)
class _Settings:
    """What the hot path reads of the stored settings."""

    multipliers: dict[str, Fraction]
    rate_limits: dict[str, Any]
    maintenance: bool


def _settings(stored: dict[str, Any]) -> _Settings:
    features = stored.get("features") or {}
    return _Settings(
        group_multipliers(stored),
        dict(stored.get("rate_limits") or {}),
        bool(features.get("maintenance_mode")),
    )


def parse_networks(entries: list[str] | None) -> tuple[IPNetwork, ...] | None:
    if entries is None:
        return None
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def channel_record(row: dict[str, Any], box: SecretBox) -> ChannelRecord | None:
    """A channel row as the hot path reads it (secrets decrypted); None for one that cannot
    serve (an unknown type, secrets that cannot be decrypted), logged."""
    channel_type = PRESETS.get(row["type"])
    if channel_type is None:
        log.error("channel %s: unknown type %r; channel skipped", row["id"], row["type"])
        return None
    try:
        api_keys = tuple(box.decrypt(token) for token in row["api_keys"])
        proxy = box.decrypt(row["proxy"]) if row.get("proxy") else None
        tls = tls_from_document(row["tls"], box.decrypt) if row.get("tls") else None
    except ValueError:  # undecryptable, or a malformed tls document
        log.error("channel %s: its secrets cannot be decrypted; channel skipped", row["id"])
        return None
    return ChannelRecord(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        base_url=row["base_url"],
        api_keys=api_keys,
        models=frozenset(channel_models(row)),
        model_mapping=dict(row["model_mapping"]),
        priority=row["priority"],
        weight=row["weight"],
        status=row["status"],
        timeout=row["timeout"],
        endpoints=channel_endpoints(row, channel_type.provider),
        proxy=proxy,
        tls=tls,
        anthropic_betas=row.get("anthropic_betas") or None,
        rpm=row.get("rpm"),
        tpm=row.get("tpm"),
        max_concurrency=row.get("max_concurrency"),
        cost_multiplier=cost_fraction(row.get("cost_multiplier")),
    )


@dataclass(frozen=True, slots=True)
class _Channels:
    channels: tuple[ChannelRecord, ...]
    routes: dict[Endpoint, dict[str, tuple[ChannelRecord, ...]]]
    names: frozenset[str]  # every public model some channel row lists, served or not


def _channels(rows: tuple[dict[str, Any], ...], records: dict[str, ChannelRecord]) -> _Channels:
    """The channel records in row order and the routing tables built from them: in memory,
    so that a change to one channel rebuilds them without reading the others."""
    channels: list[ChannelRecord] = []
    names: set[str] = set()
    routes: dict[Endpoint, dict[str, list[ChannelRecord]]] = {e: {} for e in Endpoint}
    for row in rows:
        names.update(channel_models(row))
        channel = records.get(row["id"])
        if channel is None:
            continue
        channels.append(channel)
        provider = PRESETS[channel.type].provider
        usable = bool(channel.api_keys) or not provider.key_required
        if channel.status == "active" and usable:
            # Served upstream in a format the gateway speaks; a chat-family endpoint also
            # takes its family's calls (translated): ``names.INTERCHANGEABLE``.
            formats = provider.formats
            # An endpoint declared as one routes by its operations (``names.PARTS``).
            served = (
                e for e in with_parts(channel.endpoints) if e in formats or e in TASK_ENDPOINTS
            )
            for endpoint in routable(served):
                for name in channel.models:
                    routes[endpoint].setdefault(name, []).append(channel)
    return _Channels(
        tuple(channels),
        {
            endpoint: {name: tuple(chs) for name, chs in by_model.items()}
            for endpoint, by_model in routes.items()
        },
        frozenset(names),
    )


def _ordered(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """Rows in the order a full load reads them."""
    return tuple(sorted(rows, key=lambda row: (row["created_at"], row["id"])))


def _snapshot(
    keys: dict[str, KeyRecord],
    admin: frozenset[str],
    channel_rows: tuple[dict[str, Any], ...],
    built: _Channels,
    catalog: dict[str, dict[str, Any]],
    stored: _Settings,
) -> Snapshot:
    return Snapshot(
        keys=keys,
        admin_hashes=admin,
        channels=built.channels,
        routes=built.routes[Endpoint.CHAT],
        endpoint_routes=built.routes,
        known_models=built.names | frozenset(catalog),
        catalog=catalog,
        prices={
            row["id"]: Price.from_catalog(row["pricing"], row["max_output_tokens"])
            for row in catalog.values()
            if row["pricing"]
        },
        group_multipliers=stored.multipliers,
        channel_rows=channel_rows,
        rate_limits=stored.rate_limits,
        maintenance=stored.maintenance,
        channel_costs={
            c.id: c.cost_multiplier for c in built.channels if c.cost_multiplier is not None
        },
    )


async def load(engine: AsyncEngine, box: SecretBox) -> tuple[Snapshot, str]:
    """Read the whole configuration; return it with the config version it reflects."""
    async with engine.connect() as conn:
        version = await meta.config_version(conn)
        user_rows = await users_repo.statuses(conn)
        stored_settings = await meta.get_json(conn, meta.SETTINGS) or {}
        token_rows = await crud.all_rows(conn, tables.tokens)
        channel_rows = await crud.all_rows(conn, tables.channels)
        model_rows = await crud.all_rows(conn, tables.models)
        admin = frozenset(await admin_keys.active_hashes(conn))
    keys = {
        row["key_hash"]: key_record(row, *user_rows.get(row["user_id"], ("deleted", "default")))
        for row in token_rows
    }
    records = {
        row["id"]: record
        for row in channel_rows
        if (record := channel_record(row, box)) is not None
    }
    rows = tuple(channel_rows)
    snapshot = _snapshot(
        keys,
        admin,
        rows,
        _channels(rows, records),
        {row["id"]: row for row in model_rows},
        _settings(stored_settings),
    )
    return snapshot, version


#: The changes a snapshot applies by reading the changed entities alone.
ENTITY_KINDS = frozenset(
    {config_log.TOKEN, config_log.USER, config_log.CHANNEL, config_log.MODEL, config_log.SETTINGS}
)


async def apply_changes(
    conn: AsyncConnection, current: Snapshot, changes: list[tuple[str, str]], box: SecretBox
) -> Snapshot:
    """``current`` with the entities in ``changes`` read again: the keys and users named,
    the channels named (routes rebuilt in memory from the records, the unchanged ones kept
    as they are), the catalog entries named, the settings. Never every key."""
    kinds = {kind for kind, _ in changes}
    keys = current.keys
    if kinds & {config_log.TOKEN, config_log.USER}:
        keys = await reload_keys(conn, keys, changes)
    rows, built = current.channel_rows, None
    channel_ids = {entity for kind, entity in changes if kind == config_log.CHANNEL}
    if channel_ids:
        fresh = await channels_repo.rows_of(conn, channel_ids)
        rows = _ordered([row for row in rows if row["id"] not in channel_ids] + fresh)
        records = {c.id: c for c in current.channels if c.id not in channel_ids}
        for row in fresh:
            record = channel_record(row, box)
            if record is not None:
                records[row["id"]] = record
        built = _channels(rows, records)
    else:
        built = _Channels(
            current.channels,
            current.endpoint_routes,
            frozenset(name for row in rows for name in channel_models(row)),
        )
    catalog = current.catalog
    model_ids = {entity for kind, entity in changes if kind == config_log.MODEL}
    if model_ids:
        entries = [row for row in catalog.values() if row["id"] not in model_ids]
        entries += await models_repo.rows_of(conn, model_ids)
        catalog = {row["id"]: row for row in _ordered(entries)}
    stored = _Settings(current.group_multipliers, current.rate_limits, current.maintenance)
    if config_log.SETTINGS in kinds:
        stored = _settings(await meta.get_json(conn, meta.SETTINGS) or {})
    return _snapshot(keys, current.admin_hashes, rows, built, catalog, stored)


class ConfigCache:
    """Holds the current snapshot; reloads it on demand and when the version moves: told by
    the ``bus`` (Redis pub/sub, when configured: within milliseconds) or found by polling
    the database every ``poll_seconds`` (always: the fallback when a message is lost)."""

    def __init__(
        self,
        engine: AsyncEngine,
        box: SecretBox,
        poll_seconds: float,
        bus: ConfigBus | None = None,
    ) -> None:
        self._engine = engine
        self._box = box
        self._poll_seconds = poll_seconds
        self._bus = bus
        self._version = ""
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.current: Snapshot
        self.full_loads = 0  # whole rebuilds so far (tests check writes avoid them)

    async def reload(self) -> None:
        """Rebuild the whole snapshot (a write not recorded per entity: a bulk import)."""
        async with self._lock:
            self.current, self._version = await load(self._engine, self._box)
            self.full_loads += 1

    async def refresh(self, *, announce: bool = True) -> None:
        """Catch up with the database: the entities changed since this snapshot's version
        when the change log covers them (``apply_changes``), else everything. When that
        moved the version (this instance wrote a change), the bus tells the others."""
        before = self._version
        await self._catch_up()
        if announce and self._bus is not None and self._version != before:
            await self._bus.publish(self._version)

    async def _heard(self, version: str) -> None:
        """A version published on the bus: catch up unless this snapshot is at it."""
        if version != self._version:
            await self.refresh(announce=False)

    async def _catch_up(self) -> None:
        async with self._lock:
            async with self._engine.connect() as conn:
                version, changes = await config_log.changes_since(conn, self._version)
                if changes is not None and all(kind in ENTITY_KINDS for kind, _ in changes):
                    if changes:
                        self.current = await apply_changes(conn, self.current, changes, self._box)
                    self._version = version
                    return
            self.current, self._version = await load(self._engine, self._box)
            self.full_loads += 1

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._poll())
        if self._bus is not None:
            self._bus.start(self._heard)

    async def stop(self) -> None:
        if self._bus is not None:
            await self._bus.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        outages = OutageLog(log, "configuration poll")
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                async with self._engine.connect() as conn:
                    version = await meta.config_version(conn)
                if version != self._version:
                    await self.refresh(announce=False)
            except Exception as exc:  # keep serving the last good snapshot
                outages.failed(exc)
                continue
            outages.succeeded()
