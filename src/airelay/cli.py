"""The ``airelay`` command: serve, migrate, admin-key."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from airelay import __version__
from airelay.bootstrap import create_admin_key, ensure_admin_key_sync
from airelay.config import Settings, load_settings
from airelay.security.crypto import load_or_create_secret
from airelay.store.migrate import upgrade


def _migrate(settings: Settings) -> None:
    upgrade(settings.database_url)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    _migrate(settings)
    print(f"database is up to date ({_safe_url(settings.database_url)})")
    return 0


def cmd_serve(settings: Settings, _args: argparse.Namespace) -> int:
    from airelay.server import run

    _migrate(settings)
    load_or_create_secret(settings.secret_key, settings.data_dir)
    key = ensure_admin_key_sync(settings)
    if key:
        print("=" * 72)
        print("Root management key (shown once, keep it safe):")
        print(f"  {key}")
        print("=" * 72, flush=True)
    print(f"airelay {__version__} serving on http://{settings.host}:{settings.port}", flush=True)
    run(settings)
    return 0


def cmd_admin_key(settings: Settings, args: argparse.Namespace) -> int:
    _migrate(settings)
    key = asyncio.run(create_admin_key(settings, args.name))
    print(key)
    return 0


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
    admin_key = commands.add_parser("admin-key", help="create a management key and print it")
    admin_key.add_argument("--name", default="cli", help="a label for the key")
    admin_key.set_defaults(func=cmd_admin_key)
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
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
