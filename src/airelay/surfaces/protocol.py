"""Requests that never reach a route: HTTP messages the server's parser refuses (a header or
URL too long, too many headers, bytes no HTTP allows).

aiohttp answers those itself, in plain text, and logs a traceback for each: one cheap bad
request per log entry of thirty lines, a log-flooding lever. Here its protocol's error hook
answers in the OpenAI error shape (the route is unknown: the message never parsed) with a
clear status, and logs one line without the client's bytes (they may hold a key).

Only the error path changes: a well-formed request costs nothing more.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from airelay.errors import GatewayError
from airelay.ids import new_request_id
from airelay.surfaces.responses import error_response

log = logging.getLogger(__name__)

MAX_URL_BYTES = 8192
"""The longest request target (path and query) the parser takes."""
MAX_HEADER_BYTES = 8190
"""The longest header (name and value) the parser takes; aiohttp's default. It differs from
``MAX_URL_BYTES`` so that a ``LineTooLong`` says by its limit which of the two overflowed."""
MAX_HEADERS = 128

PARSER_LIMITS: dict[str, Any] = {
    "max_line_size": MAX_URL_BYTES,
    "max_field_size": MAX_HEADER_BYTES,
    "max_headers": MAX_HEADERS,
}


def _refusal(exc: BaseException | None, status: int) -> GatewayError:
    """What to answer for a message the parser refused (never the client's own bytes)."""
    if isinstance(exc, LineTooLong):
        if exc.args[1:2] == (MAX_URL_BYTES,):
            return GatewayError(414, f"Request URL too long (limit {MAX_URL_BYTES} bytes).")
        return GatewayError(
            431, f"Request header too large (limit {MAX_HEADER_BYTES} bytes per header)."
        )
    if isinstance(exc, HttpProcessingError) and "Too many headers" in exc.message:
        return GatewayError(431, f"Too many request headers (limit {MAX_HEADERS}).")
    if isinstance(exc, HttpProcessingError):
        return GatewayError(400, "Malformed HTTP request.")
    if status == 504:
        return GatewayError(504, "The request timed out.")
    return GatewayError(500, "Internal error.")


class GatewayRequestHandler(RequestHandler):
    """aiohttp's connection protocol with the gateway's answer to unparseable requests."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of a response is out: no second answer fits; aiohttp closes the connection.
            return super().handle_error(request, status, exc, message)
        error = _refusal(exc, status)
        if isinstance(exc, HttpProcessingError) or exc is None:
            # A non-HTTP client probing the port is routine: only a debug line for it.
            level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
            log.log(level, "refused a malformed request from %s: %s", request.remote, error)
        else:
            # Not the client's bytes: a fault of ours, worth its traceback.
            log.error("error handling a request from %s", request.remote, exc_info=exc)
        response = error_response(error)
        response.headers["x-request-id"] = new_request_id()
        response.force_close()
        return response


class GatewayServer(web.Server):
    """The connection factory: each connection gets a ``GatewayRequestHandler``."""

    def __call__(self) -> RequestHandler:
        return GatewayRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """``web.AppRunner`` whose server makes ``GatewayRequestHandler`` connections."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # The server aiohttp built, as a GatewayServer: the subclass adds no state, only
        # the factory method, so the application's own wiring (handler, request factory,
        # handler arguments) is kept exactly as aiohttp made it.
        server.__class__ = GatewayServer
        return server
