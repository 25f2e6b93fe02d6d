"""``POST /v1/images/generations`` (JSON) and ``POST /v1/images/edits`` (multipart): the
OpenAI images face of the relay, and ``GET /v1/files/images/{id}``, where the images the
gateway kept for a URL answer are served.

The body is checked (400 in OpenAI's error shape), the key must hold the ``images``
permission and may call the model, and the call goes through the image relay
(``relay.image_calls``): routed to the channels serving images for the model, priced per
image, answered whole. A stored image is served to whoever holds its URL (no key: the
URL is the secret, as an upstream's signed image URL is) until it expires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import openai_images
from airelay.formats.images import ImageRequest
from airelay.formats.names import Endpoint, WireFormat
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.image_calls import run_image_call
from airelay.state import REQUEST_ID, STATE
from airelay.store.image_files import ImageFiles
from airelay.store.image_ids import content_type_of, expiry_of
from airelay.surfaces.relay_response import respond
from airelay.surfaces.responses import parse_json

GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
FILES = "/v1/files/images/"
PERMISSION = "images"
STORE_FAILED = GatewayError(500, "The image could not be stored; the call was not charged.")
log = logging.getLogger(__name__)


class _Keeper:
    """Keeps an image in the gateway's image store and answers its URL."""

    def __init__(self, files: ImageFiles, base: str) -> None:
        self.files = files
        self.base = base

    async def keep(self, data: bytes, mime: str) -> str:
        try:
            image_id = await self.files.put(data, mime)
        except Exception as exc:  # the disk or the bucket: the call is not charged
            log.warning("an image could not be stored: %s", exc)
            raise STORE_FAILED from exc
        return self.base + FILES + image_id


def _base(request: web.Request) -> str:
    """Where clients reach the gateway: ``public_url``, else the origin they called."""
    public = request.app[STATE].settings.public_url
    return public.rstrip("/") if public else f"{request.scheme}://{request.host}"


async def generations(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    content_type = request.headers.get("Content-Type", "application/json")

    def checked() -> ImageRequest:
        return openai_images.check_generation(parse_json(body), body, content_type)

    return await _relay(request, body, GENERATIONS, checked)


async def edits(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    content_type = request.headers.get("Content-Type", "")

    def checked() -> ImageRequest:
        return openai_images.check_edit(
            openai_images.form_parts(body, content_type), body, content_type
        )

    return await _relay(request, body, EDITS, checked)


async def _relay(
    request: web.Request,
    body: bytes,
    path: str,
    checked: Callable[[], ImageRequest],
) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    try:
        image_request = checked()
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission=PERMISSION, model=image_request.model, remote=request.remote)
    call = Call(
        client=WireFormat.OPENAI_IMAGES,
        endpoint=Endpoint.IMAGES,
        model=image_request.model,
        stream=False,
        body=body,
        payload=image_request.fields,
        ir=None,
        path=path,
        request_id=request[REQUEST_ID],
    )
    keeper = _Keeper(state.image_files, _base(request))
    outcome = await run_image_call(state.relay, snapshot, record, call, image_request, keeper)
    return await respond(request, outcome)


NOT_FOUND = GatewayError(404, "No such image, or it has expired.")


async def stored_image(request: web.Request) -> web.StreamResponse:
    image_id = request.match_info["id"]
    expires = expiry_of(image_id)
    if expires is None:
        raise NOT_FOUND
    try:
        data = await request.app[STATE].image_files.get(image_id)
    except Exception as exc:
        log.warning("a stored image could not be read: %s", exc)
        raise GatewayError(503, "The image store is unavailable; retry shortly.") from exc
    if data is None:
        raise NOT_FOUND
    return web.Response(
        body=data,
        content_type=content_type_of(image_id),
        headers={
            # Cached no longer than the URL answers.
            "Cache-Control": f"private, max-age={max(0, expires - int(time.time()))}",
            "X-Content-Type-Options": "nosniff",
        },
    )
