"""The ``airelay`` command: serve, migrate, admin-key, channels import."""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from airelay import __version__
from airelay.config import Settings, load_settings

if TYPE_CHECKING:
    from airelay.security.crypto import SecretBox

# The serving parent of several workers imports only this module, the settings and the
# process supervisor: database, encryption and the app load in the processes that use them.


class _Refused(Exception):
    """A migration refused (the database is newer than this code): the message says why."""


def _migrate(settings: Settings) -> None:
    from airelay.store.migrate import upgrade  # Alembic is needed by this command only
    from airelay.store.schema import SchemaMismatch

    try:
        upgrade(settings.database_url)
    except SchemaMismatch as exc:
        raise _Refused(str(exc)) from None


def _prepare_apart() -> None:
    """``prepare`` in a child process, so that the serving process never loads Alembic
    (about 12 MB it would carry for its whole life), nor, with several workers, anything
    the workers load themselves."""
    subprocess.run([sys.executable, "-m", "airelay", "prepare"], check=True)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    _migrate(settings)
    print(f"database is up to date ({_safe_url(settings.database_url)})")
    return 0


def cmd_prepare(settings: Settings, _args: argparse.Namespace) -> int:
    """What serving needs first: the schema, the encryption secret, a root management key
    (printed once, when it is created)."""
    from airelay.bootstrap import ensure_admin_key_sync
    from airelay.security.crypto import load_or_create_secret

    _migrate(settings)
    load_or_create_secret(settings.secret_key, settings.data_dir)
    key = ensure_admin_key_sync(settings)
    if key:
        print("=" * 72)
        print("Root management key (shown once, keep it safe):")
        print(f"  {key}")
        print("=" * 72, flush=True)
    return 0


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from airelay.server import run

    try:
        _prepare_apart()
    except subprocess.CalledProcessError:
        print("airelay: preparing the database failed (see above)", file=sys.stderr)
        return 1
    run(settings)  # which says where it serves once the socket is bound
    return 0


def cmd_admin_key(settings: Settings, args: argparse.Namespace) -> int:
    from airelay.bootstrap import create_admin_key

    _migrate(settings)
    key = asyncio.run(create_admin_key(settings, args.name))
    print(key)
    return 0


def cmd_channels_import(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from airelay.declarative import (
        DeclarationError,
        compare,
        import_declaration,
        read_file,
        report,
    )

    try:
        declaration = read_file(Path(args.file))
        if args.dry_run and _no_database_yet(settings.database_url):
            # Nothing to compare with, and a dry run must not create the file.
            changes = compare(declaration, [], [], None, prune=args.prune)
        else:
            if not args.dry_run:
                _migrate(settings)
            changes = asyncio.run(
                import_declaration(
                    settings.database_url,
                    declaration,
                    _secret_box(settings, create=not args.dry_run),
                    prune=args.prune,
                    dry_run=args.dry_run,
                )
            )
    except DeclarationError as exc:
        for problem in exc.problems:
            print(f"airelay: {problem}", file=sys.stderr)
        print("airelay: nothing was imported", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        hint = " (has `airelay migrate` run?)" if args.dry_run else ""
        print(f"airelay: database error{hint}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except OSError as exc:  # the database server unreachable, the secret file unreadable
        print(f"airelay: {exc}", file=sys.stderr)
        return 1
    if changes and not args.dry_run and settings.redis_url:
        from airelay.store.config_bus import announce_current

        announced = announce_current(
            settings.database_url, settings.redis_url, settings.redis_timeout
        )
        asyncio.run(announced)
    for line in report(changes, dry_run=args.dry_run):
        print(line)
    return 0


def _no_database_yet(database_url: str) -> bool:
    from sqlalchemy.engine import make_url

    from airelay.store.db import is_sqlite

    if not is_sqlite(database_url):
        return False
    path = make_url(database_url).database
    return path is not None and path not in ("", ":memory:") and not Path(path).exists()


def _secret_box(settings: Settings, *, create: bool) -> SecretBox | None:
    """The box for upstream keys; a dry run reads an existing secret but never creates one."""
    from airelay.security.crypto import SECRET_FILE, SecretBox, load_or_create_secret

    if create:
        return SecretBox(load_or_create_secret(settings.secret_key, settings.data_dir))
    if settings.secret_key:
        return SecretBox(settings.secret_key)
    path = settings.data_dir / SECRET_FILE
    return SecretBox(path.read_text().strip()) if path.exists() else None


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airelay", description="airelay: a self-hosted AI API gateway."
    )
    parser.add_argument("--version", action="version", version=f"airelay {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate the database and serve the gateway")
    serve.set_defaults(func=cmd_serve)
    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(func=cmd_migrate)
    prepare = commands.add_parser(
        "prepare",
        help="migrate, create the encryption secret and a root management key (serve does "
        "this first)",
    )
    prepare.set_defaults(func=cmd_prepare)
    admin_key = commands.add_parser("admin-key", help="create a management key and print it")
    admin_key.add_argument("--name", default="cli", help="a label for the key")
    admin_key.set_defaults(func=cmd_admin_key)
    channels = commands.add_parser("channels", help="manage upstream channels and models")
    channel_commands = channels.add_subparsers(dest="channels_command", required=True)
    channels_import = channel_commands.add_parser(
        "import",
        help="create or update channels and models from a TOML or JSON file",
        description=(
            "Upsert the channels (matched by name) and models (matched by id) that FILE "
            "declares, in one transaction. ${VAR} in a value is read from the environment."
        ),
    )
    channels_import.add_argument("file", metavar="FILE", help="a .toml or .json file")
    channels_import.add_argument(
        "--prune",
        action="store_true",
        help="also delete the channels and models the file does not list "
        "(only in the sections the file has)",
    )
    channels_import.add_argument(
        "--dry-run", action="store_true", help="print what would change and write nothing"
    )
    channels_import.set_defaults(func=cmd_channels_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic's own chatter is noise for an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"airelay: {exc}", file=sys.stderr)
        return 2
    try:
        result: int = args.func(settings, args)
    except _Refused as exc:
        print(f"airelay: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    sys.exit(main())
