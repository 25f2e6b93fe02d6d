"""The video task routes: the relay seeds' ``/v1/videos/generations`` and OpenAI's
``/v1/videos`` (create, retrieve, list, delete, download). A task is its user's alone:
another user's id is the same 404 as an unknown one. The upstream's task id and the
channel never reach the client.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from airelay.client import UpstreamError
from airelay.errors import GatewayError
from airelay.formats import video
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.state import REQUEST_ID, STATE, AppState
from airelay.store.snapshot import KeyRecord
from airelay.surfaces.responses import json_response, parse_json
from airelay.videos.service import view

MAX_LIST = 100
MAX_ID = 64


def _caller(request: web.Request, model: str | None = None) -> tuple[AppState, KeyRecord]:
    state = request.app[STATE]
    record = authenticate(
        state.cache.current, extract_key(request.headers, request.query), remote=request.remote
    )
    authorize(record, permission="video", model=model, remote=request.remote)
    return state, record


def _content_url(request: web.Request, task_id: str) -> str:
    return f"{request.url.origin()}/v1/videos/{task_id}/content"


async def _create(request: web.Request, parsed: video.VideoRequest) -> dict[str, Any]:
    state, record = _caller(request, parsed.model)
    snapshot = state.cache.current
    # A task's creation counts as one request (and holds a slot in flight while it is made).
    lease = await state.relay.limits.acquire(snapshot, record, parsed.model, 0)
    try:
        return await state.videos.create(snapshot, record, parsed, request_id=request[REQUEST_ID])
    finally:
        lease.release()


async def _owned(request: web.Request) -> tuple[AppState, dict[str, Any]]:
    state, record = _caller(request)
    task_id = request.match_info["id"]
    if len(task_id) > MAX_ID:
        raise GatewayError(404, f"No video task with id '{task_id[:MAX_ID]}'.")
    return state, await state.videos.owned(record.user_id, task_id)


# -- the seeds' face ----------------------------------------------------------------------


async def create_generation(request: web.Request) -> web.StreamResponse:
    payload = parse_json(await request.read())
    try:
        parsed = video.generations_request(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    row = await _create(request, parsed)
    return json_response(video.generations_task(view(row, _content_url(request, row["id"]))))


async def get_generation(request: web.Request) -> web.StreamResponse:
    _state, row = await _owned(request)
    return json_response(video.generations_task(view(row, _content_url(request, row["id"]))))


# -- OpenAI's face ------------------------------------------------------------------------


async def _openai_fields(request: web.Request) -> dict[str, Any]:
    """The create call's fields: a multipart form (what the SDK sends) or a JSON body."""
    if request.content_type.startswith("multipart/") or request.content_type == (
        "application/x-www-form-urlencoded"
    ):
        form: MultiDictProxy[Any] = await request.post()
        fields: dict[str, Any] = {}
        for name, value in form.items():
            if not isinstance(value, str):
                raise GatewayError(
                    400,
                    f"'{name}': uploaded files are not taken; pass input_reference as "
                    '{"image_url": "https://..."}.',
                )
            fields[name] = value
        nested = fields.pop("input_reference[image_url]", None)
        if nested is not None:
            fields["input_reference"] = {"image_url": nested}
        return fields
    payload = parse_json(await request.read())
    if not isinstance(payload, dict):
        raise GatewayError(400, "The request body must be a JSON object.")
    return payload


async def create_video(request: web.Request) -> web.StreamResponse:
    try:
        parsed = video.openai_request(await _openai_fields(request))
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    row = await _create(request, parsed)
    return json_response(video.openai_video(view(row, _content_url(request, row["id"]))))


async def get_video(request: web.Request) -> web.StreamResponse:
    _state, row = await _owned(request)
    return json_response(video.openai_video(view(row, _content_url(request, row["id"]))))


async def list_videos(request: web.Request) -> web.StreamResponse:
    state, record = _caller(request)
    query = request.query
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST:
        raise GatewayError(400, f"'limit' must be between 1 and {MAX_LIST}.")
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise GatewayError(400, "'order' must be asc or desc.")
    after = query.get("after") or None
    rows, more = await state.videos.page(
        record.user_id, limit=limit, after=after, newest_first=order == "desc"
    )
    data = [video.openai_video(view(row, _content_url(request, row["id"]))) for row in rows]
    return json_response(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


async def delete_video(request: web.Request) -> web.StreamResponse:
    state, row = await _owned(request)
    await state.videos.delete(state.cache.current, row["user_id"], row["id"])
    return json_response({"id": row["id"], "object": "video.deleted", "deleted": True})


async def download_content(request: web.Request) -> web.StreamResponse:
    """The video's bytes, streamed from the upstream as they come."""
    if request.query.get("variant", "video") != "video":
        raise GatewayError(400, "Only the 'video' variant can be downloaded.")
    state, row = await _owned(request)
    upstream = await state.videos.open_content(state.cache.current, row)
    response = web.StreamResponse(status=200)
    response.content_type = upstream.headers.get("content-type", "video/mp4").split(";")[0]
    length = upstream.headers.get("content-length")
    if length is not None and length.isdigit():
        response.content_length = int(length)
    response.headers["x-request-id"] = request[REQUEST_ID]
    try:
        await response.prepare(request)
        while chunk := await upstream.readany():
            await response.write(chunk)
        await response.write_eof()
    except (TimeoutError, UpstreamError, OSError):
        # The upstream or the client broke off: the body ends short, which the client
        # sees (its length, or the chunked framing, is not complete).
        upstream.close()
        if request.transport is not None:
            request.transport.close()
        return response
    except BaseException:
        upstream.close()
        raise
    upstream.release()
    return response
