"""The OpenAI-compatible face: ``/v1/chat/completions`` and ``/v1/models``."""

from __future__ import annotations

import aiohttp
import orjson
from aiohttp import web

from airelay.errors import GatewayError, openai_error_body
from airelay.formats import openai_chat
from airelay.formats.sse import EventSplitter, data_event, event_data
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.chat import attempt_builder, channels_for
from airelay.relay.failover import Completed, Streaming, call_with_failover
from airelay.relay.scrub import scrub
from airelay.state import REQUEST_ID, STATE

MODEL_CREATED = 1700000000


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    body = await request.read()
    record = authenticate(snapshot, extract_key(request.headers, request.query))
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(400, f"malformed JSON body: {exc}") from exc
    try:
        model, stream = openai_chat.check_request(payload)
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="chat", model=model, remote=request.remote)
    channels = channels_for(snapshot, model)
    wants_usage = openai_chat.wants_usage(payload)
    build = attempt_builder(
        state.settings, payload, body, model, stream=stream, client_wants_usage=wants_usage
    )
    result = await call_with_failover(state.http, channels, build, stream=stream)
    if isinstance(result, Completed):
        return _complete(result, model)
    upstream_model = result.channel.upstream_model(model)
    rewriter = openai_chat.ChunkRewriter(upstream_model, model, strip_usage=not wants_usage)
    return await _relay_stream(request, result, rewriter)


def _complete(result: Completed, model: str) -> web.Response:
    body = result.body
    if result.status == 200:
        body, _usage = openai_chat.rewrite_response(
            body, result.channel.upstream_model(model), model
        )
    response = web.Response(body=body, status=result.status)
    response.content_type = result.content_type.split(";")[0] or "application/json"
    return response


async def _relay_stream(
    request: web.Request, upstream: Streaming, rewriter: openai_chat.ChunkRewriter
) -> web.StreamResponse:
    """Copy events to the client as they arrive. ``write`` waits while the client's socket
    is full (back-pressure); a client that goes away closes the upstream connection."""
    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "x-request-id": request[REQUEST_ID],
        },
    )
    splitter = EventSplitter()
    finished = False
    try:
        await response.prepare(request)
        try:
            async for chunk in upstream.chunks():
                out, finished = _translate(splitter.feed(chunk), rewriter, finished)
                if out:
                    await response.write(out)
            out, finished = _translate([splitter.rest()], rewriter, finished)
            if out:
                await response.write(out)
            if not finished:
                await response.write(_error_event("upstream stream ended before completion"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            secrets = (*upstream.channel.api_keys, upstream.channel.base_url)
            detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            await response.write(_error_event(scrub(f"upstream stream failed: {detail}", secrets)))
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away; the upstream call is dropped below
    finally:
        upstream.close()
    return response


def _translate(
    events: list[bytes], rewriter: openai_chat.ChunkRewriter, finished: bool
) -> tuple[bytes, bool]:
    out: list[bytes] = []
    for event in events:
        if not event:
            continue
        data = event_data(event)
        if data is None:
            continue
        if data == openai_chat.DONE:
            finished = True
            out.append(data_event(data))
            continue
        rewritten = rewriter.rewrite(data)
        if rewritten is not None:
            out.append(data_event(rewritten))
    return b"".join(out), finished


def _error_event(message: str) -> bytes:
    return data_event(openai_error_body(502, message, "upstream_error"))


async def list_models(request: web.Request) -> web.Response:
    state = request.app[STATE]
    snapshot = state.cache.current
    record = authenticate(snapshot, extract_key(request.headers, request.query))
    names = sorted(snapshot.routes)
    if record.models is not None:
        names = [name for name in names if name in record.models]
    data = []
    for name in names:
        entry = snapshot.catalog.get(name)
        data.append(
            {
                "id": name,
                "object": "model",
                "created": entry["created_at"] if entry else MODEL_CREATED,
                "owned_by": entry["owned_by"] if entry else _owner(snapshot, name),
            }
        )
    return web.Response(
        body=orjson.dumps({"object": "list", "data": data}), content_type="application/json"
    )


def _owner(snapshot: object, name: str) -> str:
    if "/" in name:
        return name.split("/", 1)[0]
    return "airelay"


async def retrieve_model(request: web.Request) -> web.Response:
    state = request.app[STATE]
    snapshot = state.cache.current
    record = authenticate(snapshot, extract_key(request.headers, request.query))
    name = request.match_info["model"]
    if name not in snapshot.routes or (record.models is not None and name not in record.models):
        raise GatewayError(404, f"The model '{name}' does not exist.")
    entry = snapshot.catalog.get(name)
    return web.Response(
        body=orjson.dumps(
            {
                "id": name,
                "object": "model",
                "created": entry["created_at"] if entry else MODEL_CREATED,
                "owned_by": entry["owned_by"] if entry else _owner(snapshot, name),
            }
        ),
        content_type="application/json",
    )
