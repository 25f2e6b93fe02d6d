"""A fake OpenAI Chat Completions and Embeddings upstream, served over real HTTP on loopback.

Runs an aiohttp server in a daemon thread with its own event loop.  Answers are
deterministic (rules in ``openai_payloads``) so gateway tests can assert exact content and
usage.  Behaviours (errors, slowness, dropped connections) are scripted per request, FIFO.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from . import openai_responses
from .loopback import DONE, Behaviour, LoopbackFake, RecordedRequest
from .openai_embeddings import MAX_DIMENSIONS, embeddings_answer
from .openai_images import make_answer, read_form
from .openai_payloads import (
    REASONING_TEXT,
    TOOL_ARGUMENTS,
    Answer,
    build_answer,
    completion,
    stream_chunks,
    text_of,
    usage,
)

__all__ = [
    "REASONING_TEXT",
    "TOOL_ARGUMENTS",
    "Answer",
    "Behaviour",
    "FakeOpenAI",
    "RecordedRequest",
    "build_answer",
    "text_of",
    "usage",
]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "deepseek-reasoner")
_ERROR_TYPES = {403: "permission_error", 429: "requests"}  # others: by status class


class FakeOpenAI(LoopbackFake):
    """Fake OpenAI upstream.  ``with FakeOpenAI() as fake: OpenAI(base_url=fake.base_url, ...)``."""

    label = "FakeOpenAI"

    def __init__(
        self,
        api_keys: Sequence[str] = ("sk-upstream-test",),
        name: str = "fake",
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        super().__init__(api_keys, name, models)
        self.stored_images: dict[str, bytes] = {}  # images answered as URLs, by file name

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def responses_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/responses")]

    @property
    def images_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if "/images/" in r.path]

    @property
    def embeddings_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/responses/compact", self._compact)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_post("/v1/images/edits", self._images)
        app.router.add_get("/files/{name}", self._stored_image)
        app.router.add_get("/v1/models", self._models)

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        return self._error(status, message, type_)

    # -- request handling (runs on the server loop)

    def _headers(self, **extra: str) -> dict[str, str]:
        return {
            "x-request-id": "req_" + secrets.token_hex(8),
            "x-fake-upstream": self.name,
            **extra,
        }

    def _error(
        self,
        status: int,
        message: str,
        type_: str | None = None,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> web.Response:
        default_type = "server_error" if status >= 500 else "invalid_request_error"
        err = {
            "message": message,
            "type": type_ or _ERROR_TYPES.get(status, default_type),
            "param": param,
            "code": code,
        }
        headers = self._headers()
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        return web.json_response({"error": err}, status=status, headers=headers)

    def _url(self, request: web.Request) -> str:
        return f"http://127.0.0.1:{self.port}{request.path}"

    async def _pre_answer(self, request: web.Request, b: Behaviour) -> web.StreamResponse | None:
        """Apply the behaviour's pre-response part and the auth check."""
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        if b.kind == "close_immediately":
            return self._drop(request, web.Response(status=200))
        if b.kind == "slow":
            await asyncio.sleep(b.delay_s)
        if b.kind == "error":
            message = f"{b.message} (api key: {key or '<none>'}, at {self._url(request)})"
            return self._error(b.status, message, b.type_, b.code, retry_after=b.retry_after)
        if not key:
            msg = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."  # noqa: E501
            return self._error(401, msg, code="invalid_api_key")
        if key not in self.api_keys:
            msg = f"Incorrect API key provided: {key} at {self._url(request)}"
            return self._error(401, msg, code="invalid_api_key")
        return None

    def _drop(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """Close the connection; aiohttp then fails quietly writing whatever is left."""
        request[DONE] = True
        if request.transport is not None:
            request.transport.close()
        return response

    async def _send_json(
        self, request: web.Request, payload: dict[str, Any], b: Behaviour
    ) -> web.StreamResponse:
        data = _dumps(payload)
        if b.kind != "drop_after":
            return web.Response(body=data, content_type="application/json", headers=self._headers())
        headers = self._headers(**{"Content-Type": "application/json"})
        resp = web.StreamResponse(headers=headers)
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        return self._drop(request, resp)

    async def _images(self, request: web.Request) -> web.StreamResponse:
        """Generations (JSON) and edits (multipart: ``image`` or ``image[]``, ``mask``)."""
        body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        inputs: list[bytes] = []
        if request.path.endswith("/edits"):
            raw = self.requests[-1].raw
            body, inputs = read_form(raw, request.headers.get("Content-Type", ""))
            if not inputs:
                return self._error(400, "Missing required parameter: 'image'.", param="image")
        if not isinstance(body, dict) or not body.get("prompt") or not body.get("model"):
            return self._error(400, "Missing required parameter: 'prompt'.", param="prompt")
        stored = self.stored_images
        return await self._send_json(
            request, make_answer(body, inputs, stored, self.origin), behaviour
        )

    async def _stored_image(self, request: web.Request) -> web.StreamResponse:
        image = self.stored_images.get(request.match_info["name"])
        if image is None:
            return self._error(404, "no such file")
        return web.Response(body=image, content_type="image/png")

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        return self._error(404, f"Invalid URL ({request.method} {request.path})")

    async def _models(self, request: web.Request) -> web.StreamResponse:
        _, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        created = int(time.time())
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": self.name}
            for m in self.models
        ]
        return await self._send_json(request, {"object": "list", "data": data}, behaviour)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not isinstance(body, dict):
            msg = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"  # noqa: E501
            return self._error(400, msg)
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._error(400, "you must provide a model parameter")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            msg = "Missing required parameter: 'messages'."
            return self._error(400, msg, param="messages", code="missing_required_parameter")
        answer = build_answer(body)
        n = body["n"] if isinstance(body.get("n"), int) and body["n"] > 0 else 1
        head = {
            "id": "chatcmpl-" + secrets.token_hex(12),
            "created": int(time.time()),
            "model": body["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if body.get("stream") is not True:
            return await self._send_json(request, completion(head, answer, n), behaviour)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = stream_chunks(head, answer, n, include_usage)
        return await self._stream(request, chunks, behaviour)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        """The Responses API (stateless: ``previous_response_id`` is refused)."""
        body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not isinstance(body, dict):
            return self._error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._error(400, "you must provide a model parameter")
        if not body.get("input") or not isinstance(body["input"], (str, list)):
            return self._error(400, "Missing required parameter: 'input'.", param="input")
        if body.get("previous_response_id") is not None:
            return self._error(400, "Previous response not found.", param="previous_response_id")
        if body.get("stream") is not True:
            return await self._send_json(request, openai_responses.whole(body), behaviour)
        events = [
            b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"
            for name, data in openai_responses.events(body)
        ]
        return await self._write_events(request, events, behaviour)

    async def _compact(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/responses/compact`` (whole answers only)."""
        body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self._error(400, "you must provide a model parameter")
        return await self._send_json(request, openai_responses.compacted(body), behaviour)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not isinstance(body, dict):
            return self._error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._error(400, "you must provide a model parameter")
        value = body.get("input")
        if not value or not isinstance(value, (str, list)):
            msg = "'input' is a required property and cannot be empty"
            return self._error(400, msg, param="input")
        if body.get("encoding_format") not in (None, "float", "base64"):
            msg = "'encoding_format' must be 'float' or 'base64'"
            return self._error(400, msg, param="encoding_format")
        dimensions = body.get("dimensions")
        if dimensions is not None and not (
            type(dimensions) is int and 1 <= dimensions <= MAX_DIMENSIONS
        ):
            # As OpenAI refuses more than a model has (and the fuzzer's 2**31 - 1 would
            # otherwise build gigabytes of vector here).
            msg = f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}"
            return self._error(400, msg, param="dimensions")
        return await self._send_json(request, embeddings_answer(body), behaviour)

    async def _stream(
        self, request: web.Request, chunks: list[dict[str, Any]], b: Behaviour
    ) -> web.StreamResponse:
        events = [b"data: " + _dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]
        return await self._write_events(request, events, b)

    async def _write_events(
        self, request: web.Request, events: list[bytes], b: Behaviour
    ) -> web.StreamResponse:
        headers = self._headers(
            **{"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        for sent, event in enumerate(events):
            if b.kind == "drop_after" and sent >= b.n_chunks:
                return self._drop(request, resp)
            if b.kind == "slow_stream" and sent:
                await asyncio.sleep(b.delay_s)
            try:
                await resp.write(event)  # one write per event: real streaming
            except ConnectionError:  # the client went away (write noticed before the cancel)
                self._note_disconnect(request)
                return resp
        await resp.write_eof()
        return resp


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
