"""The console's built files (``web/`` → ``src/airelay/console_dist``, by ``make console``).

``index.html`` is never cached (it names the current build); the hashed assets it names are
immutable for a year. Any other path under ``/console/`` is the app's own route: it gets
``index.html`` too. The files are read once and kept in memory (a few hundred kB).
"""

from __future__ import annotations

import mimetypes
from functools import cache
from pathlib import Path

from aiohttp import web

from airelay.errors import GatewayError

DIST = Path(__file__).resolve().parents[2] / "console_dist"
# Images may also come from any https:// origin: the operator's logo (``logo_url``) may be
# hosted elsewhere; scripts, styles and connections stay on this host.
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


@cache
def _file(name: str) -> bytes | None:
    path = (DIST / name).resolve()
    if DIST.resolve() not in path.parents or not path.is_file():
        return None
    return path.read_bytes()


async def to_console(request: web.Request) -> web.StreamResponse:
    return web.Response(status=302, headers={"Location": "/console/"})


async def serve(request: web.Request) -> web.StreamResponse:
    name = request.match_info["path"]
    if name.startswith("assets/"):
        body = _file(name)
        if body is None:
            raise GatewayError(404, "Not found: no such file.")
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        headers = {"Cache-Control": "public, max-age=31536000, immutable"}
        return web.Response(body=body, content_type=kind, headers=headers | _SECURITY_HEADERS)
    index = _file("index.html")
    if index is None:
        raise GatewayError(
            503, "The console is not built on this gateway: run `make console` first."
        )
    headers = {"Cache-Control": "no-cache"} | _SECURITY_HEADERS
    return web.Response(body=index, content_type="text/html", charset="utf-8", headers=headers)
