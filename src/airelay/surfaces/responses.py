"""Building responses: JSON bodies and errors in the caller's format."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from airelay.errors import GatewayError, openai_error_body


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(error: GatewayError) -> web.Response:
    response = web.Response(
        body=openai_error_body(error.status, error.message, error.type),
        status=error.status,
        content_type="application/json",
    )
    response.headers.update(error.headers)
    return response


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 400 for anything that is not."""
    body = await request.read()
    if not body:
        raise GatewayError(400, "request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"malformed JSON body: {exc}") from exc
