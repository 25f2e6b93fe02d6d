"""Building responses: JSON bodies and errors in the caller's format."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from airelay.errors import GatewayError, openai_error_body
from airelay.formats.names import WireFormat
from airelay.formats.registry import codec


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def client_format(request: web.Request) -> WireFormat:
    """The wire format a caller speaks, from the route it called (errors answer in it)."""
    path = request.path
    if path.startswith("/v1beta/") or (
        # Gemini's actions under /v1 (``POST /v1/models/{model}:generateContent``); a GET
        # there is OpenAI's retrieve-model, whatever the id holds.
        request.method == "POST" and ":" in path.rsplit("/", 1)[-1] and "/models/" in path
    ):
        return WireFormat.GEMINI
    if path.startswith(("/v1/messages", "/messages")):
        return WireFormat.ANTHROPIC
    # The model list is the one route both SDKs call: Anthropic's sends its version header.
    # Elsewhere (the management API, OpenAI's routes) the header changes nothing.
    if path.startswith(("/v1/models", "/models")) and "anthropic-version" in request.headers:
        return WireFormat.ANTHROPIC
    return WireFormat.OPENAI


def error_response(error: GatewayError, fmt: WireFormat = WireFormat.OPENAI) -> web.Response:
    """The error in the caller's format, so that its SDK raises its own typed exception."""
    if fmt is WireFormat.OPENAI:
        body = openai_error_body(error.status, error.message, error.type)
    else:
        body = orjson.dumps(codec(fmt).error_body(error.status, error.message, None))
    response = web.Response(body=body, status=error.status, content_type="application/json")
    response.headers.update(error.headers)
    return response


async def read_json(request: web.Request) -> Any:
    """The request body as JSON; 400 for anything that is not."""
    return parse_json(await request.read())


def parse_json(body: bytes) -> Any:
    """A JSON body, any shape; 400 for an empty or malformed one."""
    if not body:
        raise GatewayError(400, "request body is empty; expected JSON")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"malformed JSON body: {exc}") from exc


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; 400 for anything else."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"malformed JSON body: {exc}") from exc
    if not isinstance(payload, dict):
        raise GatewayError(400, "request body must be a JSON object")
    return payload
