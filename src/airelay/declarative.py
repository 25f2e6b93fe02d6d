"""Channels and models declared in a file (``airelay channels import FILE``, GitOps style).

The file (TOML or JSON) lists ``channels`` (matched by ``name``) and ``models`` (matched by
``id``). Entries obey the management API's rules, checked by the same code
(``airelay.catalog``). The import compares the file with the database, then creates what is
missing and updates the fields the file gives (other fields keep their values); with
``prune`` it also deletes what the file does not list, in each section the file has. All of it
happens in one transaction that also bumps the configuration version, so that running
gateways reload.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import msgspec
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from airelay.catalog import ChannelCreate, ModelCreate, new_channel, new_model, sealed
from airelay.errors import GatewayError
from airelay.security.crypto import SecretBox
from airelay.store import channels as channels_repo
from airelay.store import crud, meta, tables
from airelay.store import models as models_repo
from airelay.store.db import create_engine, now
from airelay.transport.options import tls_from_document

T = TypeVar("T")
Kind = Literal["channel", "model"]
Action = Literal["created", "updated", "deleted", "unchanged"]
SECTIONS: dict[str, Kind] = {"channels": "channel", "models": "model"}
# ``${NAME}`` takes NAME from the environment; ``$${...}`` stands for a literal ``${...}``.
_VARIABLE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DeclarationError(Exception):
    """The file cannot be imported; ``problems`` names each entry and field at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Declared:
    """One entry of the file, checked: the columns a new row gets, and those the file sets."""

    key: str
    label: str
    values: dict[str, Any]
    given: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Declaration:
    """The sections of the file; None for a section the file does not have."""

    channels: list[Declared] | None
    models: list[Declared] | None


@dataclass(frozen=True, slots=True)
class Change:
    action: Action
    kind: Kind
    key: str
    row_id: str | None = None
    # Columns to write (created: all; updated: the changed ones). Channel keys in the clear.
    values: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        line = f"{self.action} {self.kind} {self.key}"
        if self.action == "updated":
            line += f" ({', '.join(self.values)})"
        return line


# -- reading the file -------------------------------------------------------------------------


def read_file(path: Path, env: Mapping[str, str] | None = None) -> Declaration:
    """Parse and check ``path`` (``.toml`` or ``.json``); raise DeclarationError on any fault."""
    env = os.environ if env is None else env
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise DeclarationError([f"{path}: use a .toml or .json file (got '{path.name}')"])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DeclarationError([f"cannot read {path}: {exc.strerror or exc}"]) from exc
    try:
        document = tomllib.loads(raw.decode("utf-8")) if suffix == ".toml" else orjson.loads(raw)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        kind = "TOML" if suffix == ".toml" else "JSON"
        raise DeclarationError([f"{path}: malformed {kind}: {exc}"]) from exc
    if not isinstance(document, dict):
        raise DeclarationError([f"{path}: the top level must be a table with 'channels'/'models'"])
    problems = [
        f"{path}: unknown section '{name}'; known: {', '.join(SECTIONS)}"
        for name in document
        if name not in SECTIONS
    ]
    channels = _section(document, "channels", "name", _channel, env, problems)
    models = _section(document, "models", "id", _model, env, problems)
    if problems:
        raise DeclarationError(problems)
    return Declaration(channels, models)


def _section(
    document: dict[str, Any],
    section: str,
    key_field: str,
    check: Callable[[dict[str, Any], str], Declared],
    env: Mapping[str, str],
    problems: list[str],
) -> list[Declared] | None:
    if section not in document:
        return None
    entries = document[section]
    if not isinstance(entries, list):
        problems.append(f"'{section}' must be a list of entries ([[{section}]] in TOML)")
        return None
    declared: list[Declared] = []
    first_label: dict[str, str] = {}
    for index, entry in enumerate(entries):
        label = f"{section}[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{label}: must be a table/object")
            continue
        if isinstance(entry.get(key_field), str):
            label += f" ({entry[key_field]})"
        try:
            item = check(_expand(entry, env, ""), label)
        except _Fault as fault:
            where = f"{fault.where}: " if fault.where else ""
            problems.append(f"{label}: {where}{fault}")
            continue
        except GatewayError as exc:
            problems.append(f"{label}: {exc.message}")
            continue
        if item.key in first_label:
            problems.append(
                f"{label}: {key_field} '{item.key}' is declared twice "
                f"(first in {first_label[item.key]})"
            )
            continue
        first_label[item.key] = label
        declared.append(item)
    return declared


class _Fault(Exception):
    """A problem at ``where`` inside an entry (``api_keys[0]``), or the entry as a whole."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def _expand(value: Any, env: Mapping[str, str], where: str) -> Any:
    """``value`` with ``${VAR}`` in its strings replaced from ``env``."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            escaped, name = match.group(1), match.group(2)
            if escaped:
                return "${" + name + "}"
            if not _NAME.fullmatch(name):
                raise _Fault(f"'${{{name}}}' is not a valid variable reference", where)
            if name not in env:
                raise _Fault(f"environment variable {name} is not set", where)
            return env[name]

        expanded = _VARIABLE.sub(substitute, value)
        if "\x00" in expanded:
            raise _Fault("strings must not contain NUL characters", where)
        return expanded
    if isinstance(value, list):
        return [_expand(item, env, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        expanded_dict: dict[str, Any] = {}
        for name, item in value.items():
            if "\x00" in name:
                raise _Fault("strings must not contain NUL characters", where)
            expanded_dict[name] = _expand(item, env, f"{where}.{name}" if where else name)
        return expanded_dict
    return value


def _convert(entry: dict[str, Any], kind: type[T]) -> T:
    known: tuple[str, ...] = getattr(kind, "__struct_fields__", ())
    for name in entry:
        # The API ignores fields it does not know; in a file kept by hand it is a typo.
        if name not in known:
            raise _Fault(f"unknown field '{name}'; known: {', '.join(known)}")
    try:
        return msgspec.convert(entry, type=kind)
    except msgspec.ValidationError as exc:
        raise _Fault(str(exc)) from exc


def _channel(entry: dict[str, Any], label: str) -> Declared:
    values = new_channel(_convert(entry, ChannelCreate))
    given = {"api_keys" if name == "api_key" else name for name in entry}
    columns = tuple(c for c in ChannelCreate.__struct_fields__ if c in given and c in values)
    return Declared(values["name"], label, values, columns)


def _model(entry: dict[str, Any], label: str) -> Declared:
    values = new_model(_convert(entry, ModelCreate))
    given = tuple(c for c in values if c in entry and c != "id")
    return Declared(values["id"], label, values, given)


# -- comparing with the database and writing --------------------------------------------------


async def plan(
    conn: AsyncConnection, declaration: Declaration, box: SecretBox | None, *, prune: bool
) -> list[Change]:
    """What importing ``declaration`` into the database of ``conn`` changes."""
    channel_rows = (
        [] if declaration.channels is None else await crud.all_rows(conn, tables.channels)
    )
    model_rows = [] if declaration.models is None else await crud.all_rows(conn, tables.models)
    return compare(declaration, channel_rows, model_rows, box, prune=prune)


def compare(
    declaration: Declaration,
    channel_rows: list[dict[str, Any]],
    model_rows: list[dict[str, Any]],
    box: SecretBox | None,
    *,
    prune: bool,
) -> list[Change]:
    """One Change per declared entry, plus the deletions when pruning.

    ``box`` decrypts the stored channel keys to compare them (None: they count as changed).
    """
    changes: list[Change] = []
    if declaration.channels is not None:
        changes += _compare(
            "channel",
            declaration.channels,
            channel_rows,
            "name",
            prune,
            lambda row, item: _diff(row, item, box),
        )
    if declaration.models is not None:
        changes += _compare(
            "model",
            declaration.models,
            model_rows,
            "id",
            prune,
            lambda row, item: _diff(row, item, None),
        )
    return changes


def _compare(
    kind: Kind,
    declared: list[Declared],
    rows: list[dict[str, Any]],
    key_column: str,
    prune: bool,
    diff: Callable[[dict[str, Any], Declared], dict[str, Any]],
) -> list[Change]:
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_key.setdefault(row[key_column], []).append(row)
    changes: list[Change] = []
    problems: list[str] = []
    for item in declared:
        matches = by_key.get(item.key, [])
        if len(matches) > 1:
            problems.append(
                f"{item.label}: {len(matches)} {kind}s in the database are named '{item.key}'; "
                "rename or delete all but one through the management API first"
            )
        elif not matches:
            changes.append(Change("created", kind, item.key, values=item.values))
        else:
            changed = diff(matches[0], item)
            action: Action = "updated" if changed else "unchanged"
            changes.append(Change(action, kind, item.key, matches[0]["id"], changed))
    if problems:
        raise DeclarationError(problems)
    if prune:
        keep = {item.key for item in declared}
        changes += [
            Change("deleted", kind, row[key_column], row["id"])
            for row in rows
            if row[key_column] not in keep
        ]
    return changes


def _diff(row: dict[str, Any], item: Declared, box: SecretBox | None) -> dict[str, Any]:
    """The columns the file sets to something other than what ``row`` holds."""
    changed: dict[str, Any] = {}
    for column in item.given:
        new = item.values[column]
        old = _plain(column, row[column], box) if column in _SEALED else row[column]
        if old != new:
            changed[column] = new
    return changed


# Channel columns stored (partly) encrypted: compared in the clear.
_SEALED = frozenset({"api_keys", "proxy", "tls"})
_UNREADABLE = object()  # differs from any declared value


def _plain(column: str, stored: Any, box: SecretBox | None) -> Any:
    if stored is None:
        return None
    if box is None:
        return _UNREADABLE
    try:
        if column == "api_keys":
            return [box.decrypt(token) for token in stored]
        if column == "proxy":
            return box.decrypt(stored)
        return tls_from_document(stored, box.decrypt)
    except ValueError:
        # Stored under another secret: rewriting it under the current one is a change.
        return _UNREADABLE


async def apply(conn: AsyncConnection, changes: list[Change], box: SecretBox) -> None:
    ts = now()
    for change in changes:
        table = tables.channels if change.kind == "channel" else tables.models
        values = sealed(change.values, box.encrypt) if change.kind == "channel" else change.values
        if change.action == "created" and change.kind == "channel":
            await channels_repo.create(conn, values)
        elif change.action == "created":
            await models_repo.create(
                conn,
                values["id"],
                values["owned_by"],
                values["pricing"],
                values["max_output_tokens"],
                values.get("reasoning", True),
            )
        elif change.action == "updated":
            await crud.update(conn, table, str(change.row_id), {**values, "updated_at": ts})
        elif change.action == "deleted":
            await crud.delete(conn, table, str(change.row_id))


async def import_declaration(
    database_url: str,
    declaration: Declaration,
    box: SecretBox | None,
    *,
    prune: bool = False,
    dry_run: bool = False,
) -> list[Change]:
    """Compare and (unless ``dry_run``) apply, in one transaction; return the changes.

    ``box`` may be None only for a dry run (no secret yet: no stored key can be read).
    """
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            try:
                if not dry_run:
                    # Writing first takes the write lock before reading (SQLite would refuse
                    # to upgrade a read snapshot that a gateway wrote past) and orders
                    # concurrent imports on PostgreSQL. Rolled back if nothing changes.
                    await meta.bump_config_version(conn)
                changes = await plan(conn, declaration, box, prune=prune)
                if dry_run or all(change.action == "unchanged" for change in changes):
                    await transaction.rollback()
                    return changes
                if box is None:
                    raise ValueError("a secret is needed to store channel keys")
                await apply(conn, changes, box)
                await transaction.commit()
                return changes
            except BaseException:
                if transaction.is_active:
                    await transaction.rollback()
                raise
    finally:
        await engine.dispose()


def report(changes: list[Change], *, dry_run: bool) -> list[str]:
    """One line per change, then a summary per section."""
    lines = [change.describe() for change in changes]
    totals = []
    for kind in ("channel", "model"):
        counts = {action: 0 for action in ("created", "updated", "deleted", "unchanged")}
        for change in changes:
            if change.kind == kind:
                counts[change.action] += 1
        totals.append(f"{kind}s: " + ", ".join(f"{n} {action}" for action, n in counts.items()))
    summary = "; ".join(totals)
    lines.append(f"{summary} (dry run: nothing written)" if dry_run else summary)
    return lines
