"""Every route's handler is wrapped once, at start-up: a request id on every response,
every failure answered in the caller's error shape, never a traceback, and each request
counted in the metrics (and written to the access log, when it is on) under its surface.

A wrapper rather than an aiohttp middleware: the same work without the framework building a
handler chain for each request.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from airelay.errors import GatewayError
from airelay.ids import new_request_id
from airelay.observe import access
from airelay.observe.metrics import REQUEST_SECONDS, REQUESTS, FastCounter, FastHistogram
from airelay.relay.auth import AddressRefused
from airelay.relay.metering import CLIENT_CLOSED
from airelay.security.forwarded import TrustedProxies, hint_untrusted
from airelay.state import REQUEST_ID, SENT_STATUS
from airelay.store.unavailable import RETRY_AFTER_SECONDS, reason, unavailable
from airelay.surfaces.responses import client_format, error_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_MESSAGES = {
    404: "Not found: no such route.",
    405: "Method not allowed on this route.",
    413: "Request body too large.",
}


NUL_IN_URL = GatewayError(
    400, "The URL must not contain NUL characters (%00) in its path or query."
)


def endpoint(
    handler: Handler, proxies: TrustedProxies | None = None, surface: str | None = None
) -> Handler:
    """``handler`` wrapped; with ``proxies``, a request from one of them is handled as
    coming from the client its X-Forwarded-For names (``request.remote``). ``surface``, the
    metrics' label, is the handler's module's (``surface_of``) unless given."""
    if surface is None:
        surface = surface_of(handler)
    seconds = FastHistogram.lazy(REQUEST_SECONDS, surface)
    by_status: dict[int, FastCounter] = {}  # status -> its counter

    async def handle(request: web.Request) -> web.StreamResponse:
        if proxies is not None:
            request = proxies.rewrite(request)
        request_id = new_request_id()
        request[REQUEST_ID] = request_id
        started = time.perf_counter()
        record = access.opened()
        try:
            # A NUL cannot be stored in PostgreSQL text nor is it in any id or filter the
            # gateway issues: refused once here for every path id and query value, with a
            # substring test on the raw URL (no parsing; a few tens of ns per request).
            if "%00" in request.raw_path:
                raise NUL_IN_URL
            response = await handler(request)
        except GatewayError as error:
            if (
                proxies is None
                and isinstance(error, AddressRefused)
                and "X-Forwarded-For" in request.headers
            ):
                hint_untrusted(request.remote)
            response = error_response(error, client_format(request))
        except web.HTTPException as http:
            if http.status < 400:
                raise
            message = _HTTP_MESSAGES.get(http.status, http.reason)
            response = error_response(GatewayError(http.status, message), client_format(request))
            if "Allow" in http.headers:
                response.headers["Allow"] = http.headers["Allow"]
        except (HttpProcessingError, web.RequestPayloadError):
            # The body broke the HTTP framing while a handler read it (a bad chunk size, bad
            # compression): the client's fault. Its message may echo the client's bytes.
            failure = GatewayError(400, "Malformed HTTP request body.")
            response = error_response(failure, client_format(request))
        except Exception as exc:
            response = error_response(_failure(request, request_id, exc), client_format(request))
        except asyncio.CancelledError:
            # The client went away (the server then cancels its handler) or the server is
            # stopping: counted and logged all the same, under the status line a stream
            # sent (as a proxy logs it), or 499 when the client was sent nothing.
            done(request, request.get(SENT_STATUS, CLIENT_CLOSED), started, record)
            raise
        if not response.prepared:
            response.headers["x-request-id"] = request_id
        done(request, response.status, started, record)
        return response

    def done(
        request: web.Request, status: int, started: float, record: access.AccessRecord | None
    ) -> None:
        """The request counted in the metrics and, when it is on, the access log."""
        elapsed = time.perf_counter() - started
        counter = by_status.get(status)
        if counter is None:
            counter = by_status[status] = FastCounter(REQUESTS.labels(surface, str(status)))
        counter.inc()
        seconds.observe(elapsed)
        if record is not None:
            access.write(
                record,
                request_id=request[REQUEST_ID],
                method=request.method,
                path=request.rel_url.path,
                surface=surface,
                status=status,
                seconds=elapsed,
            )

    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


def surface_of(handler: Handler) -> str:
    """The metric label of a handler's surface: its module's name (``openai_chat``,
    ``anthropic``...), one ``admin`` for the management API."""
    module: str | None = getattr(handler, "__module__", None) or _holder(handler)
    if not module:
        raise ValueError(f"{handler!r} names no module: give endpoint() its surface")
    parts = module.split(".")
    if "admin" in parts:
        return "admin"
    return parts[-1]


def _holder(handler: Handler) -> str | None:
    """The module that holds ``handler`` under its name: a function compiled to C (mypyc,
    see ``bench/compiled.py``) names none of its own. Once per route, at start-up."""
    name = getattr(handler, "__name__", None)
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("airelay.") and getattr(module, name or "", None) is handler:
            return module_name
    return None


DATABASE_DOWN = GatewayError(
    503,
    "The gateway's database is unavailable; retry shortly.",
    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
)


def _failure(request: web.Request, request_id: str, exc: Exception) -> GatewayError:
    """A failure no handler answered: 503 when the database is out of reach (one log line:
    every request fails alike while it is), else 500 with its traceback (a bug)."""
    if unavailable(exc):
        log.warning(
            "database unavailable: %s %s answered 503 (request %s): %s",
            request.method,
            request.rel_url.raw_path,  # still percent-encoded: no line break gets in
            request_id,
            reason(exc),
        )
        return DATABASE_DOWN
    log.exception("unhandled error in %s %s (request %s)", request.method, request.path, request_id)
    return GatewayError(500, "Internal error; request id " + request_id)


async def unmatched(request: web.Request) -> web.StreamResponse:
    """The last route: 405 for a known path called with another method, else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical == CATCH_ALL:
            continue
        _match, methods = await resource.resolve(request)
        allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, sorted(allowed))
    raise web.HTTPNotFound()


CATCH_ALL = "/{tail}"
