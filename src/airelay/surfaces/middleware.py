"""One middleware: a request id on every response, and every failure answered as JSON in
the contract's error shape, never a traceback."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from airelay.errors import GatewayError
from airelay.ids import new_request_id
from airelay.state import REQUEST_ID
from airelay.surfaces.responses import client_format, error_response

log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    404: "Not found: no such route.",
    405: "Method not allowed on this route.",
    413: "Request body too large.",
}


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = new_request_id()
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except GatewayError as error:
        response = error_response(error, client_format(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        response = error_response(GatewayError(exc.status, message), client_format(request))
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except Exception:
        log.exception(
            "unhandled error in %s %s (request %s)", request.method, request.path, request_id
        )
        failure = GatewayError(500, "Internal error; request id " + request_id)
        response = error_response(failure, client_format(request))
    if not response.prepared:
        response.headers["x-request-id"] = request_id
    return response
