"""``POST /v1/chat/completions``: the OpenAI chat face of the relay, metered."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web

from airelay.billing.tokens import estimate_tokens, prompt_upper_bound
from airelay.errors import GatewayError, openai_error_body
from airelay.formats import openai_chat
from airelay.formats.sse import EventSplitter, data_event, event_data
from airelay.formats.usage import Usage
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.chat import attempt_builder, channels_for
from airelay.relay.failover import Completed, Streaming, call_with_failover
from airelay.relay.metering import CLIENT_CLOSED, Meter, open_meter
from airelay.relay.scrub import scrub
from airelay.state import REQUEST_ID, STATE

ENDPOINT = "/v1/chat/completions"


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
    meter = await open_meter(
        state.wallets,
        snapshot,
        record,
        model=model,
        endpoint=ENDPOINT,
        request_id=request[REQUEST_ID],
        prompt_tokens=prompt_upper_bound(len(body)),
        max_output_tokens=openai_chat.output_cap(payload),
        choices=openai_chat.choice_count(payload),
    )
    try:
        wants_usage = openai_chat.wants_usage(payload)
        build = attempt_builder(
            state.settings, payload, body, model, stream=stream, client_wants_usage=wants_usage
        )
        result = await call_with_failover(state.http, channels, build, stream=stream)
        if isinstance(result, Completed):
            return _complete(result, model, meter, payload)
        upstream_model = result.channel.upstream_model(model)
        rewriter = openai_chat.ChunkRewriter(upstream_model, model, strip_usage=not wants_usage)
        return await _relay_stream(request, result, rewriter, meter, payload)
    finally:
        meter.release()  # a no-op once settled


def _complete(result: Completed, model: str, meter: Meter, payload: dict[str, Any]) -> web.Response:
    body = result.body
    if result.status == 200:
        body, usage = openai_chat.rewrite_response(
            body, result.channel.upstream_model(model), model
        )
        if usage is None:
            usage = _estimated_usage(payload, openai_chat.response_text(body))
        meter.settle(usage, channel_id=result.channel.id)
    response = web.Response(body=body, status=result.status)
    response.content_type = result.content_type.split(";")[0] or "application/json"
    return response


def _estimated_usage(payload: dict[str, Any], completion: str) -> Usage:
    return Usage(
        prompt_tokens=estimate_tokens(openai_chat.prompt_text(payload)),
        completion_tokens=estimate_tokens(completion),
    )


async def _relay_stream(
    request: web.Request,
    upstream: Streaming,
    rewriter: openai_chat.ChunkRewriter,
    meter: Meter,
    payload: dict[str, Any],
) -> web.StreamResponse:
    """Copy events to the client as they arrive. ``write`` waits while the client's socket
    is full (back-pressure); a client that goes away closes the upstream connection. The
    call is billed on the usage the upstream reported, or else on the tokens it produced."""
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
    status = CLIENT_CLOSED
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
            status = 200 if finished else 502
            if not finished:
                await response.write(_error_event("upstream stream ended before completion"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = 502
            secrets = (*upstream.channel.api_keys, upstream.channel.base_url)
            detail = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            await response.write(_error_event(scrub(f"upstream stream failed: {detail}", secrets)))
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        status = CLIENT_CLOSED  # the client went away; the upstream call is dropped below
    finally:
        upstream.close()
        usage = rewriter.usage or _estimated_usage(
            payload, openai_chat.completion_text(rewriter.kept)
        )
        meter.settle(usage, channel_id=upstream.channel.id, status=status)
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
