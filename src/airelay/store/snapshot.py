"""The in-memory picture of configuration that the hot path reads: keys, channels, models.

Built from the database at start-up and polled so that writes made by another instance show
up within ``config_poll_seconds``; the writing instance refreshes at once. A write of one key
or one user (see ``store.config_log``) replaces that key's or that user's records only; any
other write rebuilds the whole snapshot. Requests read a ``Snapshot`` without any database
round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import itertools
import logging
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from airelay.formats.names import Endpoint, routable
from airelay.pricing import Price
from airelay.providers.base import Provider
from airelay.providers.presets import PRESETS
from airelay.security.crypto import SecretBox
from airelay.store import admin_keys, config_log, crud, meta, tables
from airelay.store import tokens as tokens_repo
from airelay.store import users as users_repo
from airelay.store.unavailable import OutageLog
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
    _key_cycle: Iterator[str] = field(init=False, repr=False)
    _cache: dict[Hashable, Any] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._key_cycle = itertools.cycle(self.api_keys)

    def next_key(self) -> str:
        """The upstream keys are used in turn."""
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


def parse_networks(entries: list[str] | None) -> tuple[IPNetwork, ...] | None:
    if entries is None:
        return None
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


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
    channels: list[ChannelRecord] = []
    known: set[str] = {row["id"] for row in model_rows}
    routes: dict[Endpoint, dict[str, list[ChannelRecord]]] = {e: {} for e in Endpoint}
    for row in channel_rows:
        names = channel_models(row)
        known.update(names)
        channel_type = PRESETS.get(row["type"])
        if channel_type is None:
            log.error("channel %s: unknown type %r; channel skipped", row["id"], row["type"])
            continue
        try:
            api_keys = tuple(box.decrypt(token) for token in row["api_keys"])
            proxy = box.decrypt(row["proxy"]) if row.get("proxy") else None
            tls = tls_from_document(row["tls"], box.decrypt) if row.get("tls") else None
        except ValueError:  # undecryptable, or a malformed tls document
            log.error("channel %s: its secrets cannot be decrypted; channel skipped", row["id"])
            continue
        channel = ChannelRecord(
            id=row["id"],
            name=row["name"],
            type=row["type"],
            base_url=row["base_url"],
            api_keys=api_keys,
            models=frozenset(names),
            model_mapping=dict(row["model_mapping"]),
            priority=row["priority"],
            weight=row["weight"],
            status=row["status"],
            timeout=row["timeout"],
            endpoints=channel_endpoints(row, channel_type.provider),
            proxy=proxy,
            tls=tls,
        )
        channels.append(channel)
        if channel.status == "active" and channel.api_keys:
            # Served upstream in a format the gateway speaks; a chat-family endpoint also
            # takes its family's calls (translated): ``names.INTERCHANGEABLE``.
            formats = channel_type.provider.formats
            for endpoint in routable(e for e in channel.endpoints if e in formats):
                for name in names:
                    routes[endpoint].setdefault(name, []).append(channel)
    endpoint_routes = {
        endpoint: {name: tuple(chs) for name, chs in by_model.items()}
        for endpoint, by_model in routes.items()
    }
    snapshot = Snapshot(
        keys=keys,
        admin_hashes=admin,
        channels=tuple(channels),
        routes=endpoint_routes[Endpoint.CHAT],
        endpoint_routes=endpoint_routes,
        known_models=frozenset(known),
        catalog={row["id"]: row for row in model_rows},
        prices={
            row["id"]: Price.from_catalog(row["pricing"], row["max_output_tokens"])
            for row in model_rows
            if row["pricing"]
        },
        group_multipliers=group_multipliers(stored_settings),
    )
    return snapshot, version


class ConfigCache:
    """Holds the current snapshot; reloads it on demand and when the version moves."""

    def __init__(self, engine: AsyncEngine, box: SecretBox, poll_seconds: float) -> None:
        self._engine = engine
        self._box = box
        self._poll_seconds = poll_seconds
        self._version = ""
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.current: Snapshot
        self.full_loads = 0  # whole rebuilds so far (tests check writes avoid them)

    async def reload(self) -> None:
        """Rebuild the whole snapshot (a write that is not about one key or one user)."""
        async with self._lock:
            self.current, self._version = await load(self._engine, self._box)
            self.full_loads += 1

    async def refresh(self) -> None:
        """Catch up with the database: the keys and users changed since this snapshot's
        version when the change log covers them, else everything."""
        async with self._lock:
            async with self._engine.connect() as conn:
                version, changes = await config_log.changes_since(conn, self._version)
                if changes is not None and all(
                    kind in (config_log.TOKEN, config_log.USER) for kind, _ in changes
                ):
                    if changes:
                        keys = await reload_keys(conn, self.current.keys, changes)
                        self.current = dataclasses.replace(self.current, keys=keys)
                    self._version = version
                    return
            self.current, self._version = await load(self._engine, self._box)
            self.full_loads += 1

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
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
                    await self.refresh()
            except Exception as exc:  # keep serving the last good snapshot
                outages.failed(exc)
                continue
            outages.succeeded()
