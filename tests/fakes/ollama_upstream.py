"""A fake Ollama server (its native ``POST /api/chat``), served over real HTTP on loopback.
Control surface and ``Behaviour`` as the other fakes.

As Ollama does, it streams unless the body says ``"stream": false``: one JSON object per
line (``application/x-ndjson``), the text cut in word pieces, reasoning (``thinking``)
first, tool calls whole in one line, and a last line with ``"done": true``, the
``done_reason`` and the counts (``prompt_eval_count``, ``eval_count``). A whole answer is
one object with the same fields. Errors are ``{"error": "..."}``.

Answer rules are the OpenAI fake's (``openai_payloads``: ``options.num_predict`` is the
output cap, models whose name contains ``reasoner`` think). Without ``api_keys`` the fake
takes any call; with them, a call must carry one as a Bearer (a server behind an
authenticating proxy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .loopback import Behaviour, LoopbackFake, RecordedRequest, dumps
from .openai_payloads import TOOL_ARGUMENTS, Answer, build_answer

__all__ = ["Behaviour", "FakeOllama", "RecordedRequest", "chat_lines", "whole_answer"]

NDJSON = "application/x-ndjson"
CREATED_AT = "2026-01-02T03:04:05.123456789Z"
DEFAULT_MODELS = ("llama3.2", "qwen3-reasoner", "gpt-oss:20b")

Json = dict[str, Any]


def _answer(body: Json) -> Answer:
    options = body.get("options") or {}
    return build_answer({**body, "max_tokens": options.get("num_predict")})


def _calls(answer: Answer) -> list[Json]:
    arguments = json.loads(TOOL_ARGUMENTS)
    return [{"function": {"name": name, "arguments": arguments}} for name in answer.tool_names]


def _counts(answer: Answer) -> Json:
    return {
        "total_duration": 5_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": answer.prompt_tokens,
        "prompt_eval_duration": 1_000_000,
        "eval_count": answer.completion_tokens,
        "eval_duration": 2_000_000,
    }


def whole_answer(model: str, answer: Answer) -> Json:
    message: Json = {"role": "assistant", "content": answer.content or ""}
    if answer.reasoning:
        message["thinking"] = answer.reasoning
    if answer.tool_names:
        message["tool_calls"] = _calls(answer)
    return {
        "model": model,
        "created_at": CREATED_AT,
        "message": message,
        "done": True,
        "done_reason": "length" if answer.finish_reason == "length" else "stop",
        **_counts(answer),
    }


def chat_lines(model: str, answer: Answer) -> list[Json]:
    """The lines of a streamed answer, the last with ``done: true`` and the counts."""

    def line(**message: Any) -> Json:
        content = message.pop("content", "")
        return {
            "model": model,
            "created_at": CREATED_AT,
            "message": {"role": "assistant", "content": content, **message},
            "done": False,
        }

    lines: list[Json] = []
    if answer.reasoning:
        lines.append(line(thinking=answer.reasoning))
    for piece in re.findall(r"\s*\S+\s*", answer.content or ""):  # pieces re-join exactly
        lines.append(line(content=piece))
    if answer.tool_names:
        lines.append(line(tool_calls=_calls(answer)))
    last = whole_answer(model, answer)
    last["message"] = {"role": "assistant", "content": ""}
    lines.append(last)
    return lines


class FakeOllama(LoopbackFake):
    """``with FakeOllama() as fake:`` a channel of type ``ollama`` with
    ``base_url=fake.base_url`` and no key (or one of ``api_keys`` when given)."""

    label = "FakeOllama"

    def __init__(
        self,
        api_keys: Sequence[str] = (),
        name: str = "fake-ollama",
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        super().__init__(api_keys, name, models)

    @property
    def base_url(self) -> str:
        return self.origin

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/api/chat"]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/chat", self._chat)

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        return web.json_response({"error": message}, status=status, headers=self.headers())

    def _invalid(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "invalid request body"
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "model is required"
        messages = body.get("messages")
        if not isinstance(messages, list):
            return "messages is required"
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in (
                "system",
                "user",
                "assistant",
                "tool",
            ):
                return "invalid message role"
            if not isinstance(message.get("content", ""), str):
                return "json: cannot unmarshal array into Go struct field Message.content"
            images = message.get("images")
            if images is not None and not all(isinstance(i, str) for i in images):
                return "invalid image data"
            for call in message.get("tool_calls") or ():
                if not isinstance(call.get("function", {}).get("arguments"), dict):
                    return "tool call arguments must be an object"
        if body.get("options") is not None and not isinstance(body["options"], dict):
            return "options must be an object"
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else ""
        early = await self.before(request, behaviour, key)
        if early is not None:
            return early
        if self.api_keys and key not in self.api_keys:
            return self.error(401, "unauthorized")
        problem = self._invalid(body)
        if problem is not None:
            return self.error(400, problem)
        model = body["model"]
        if model not in self.models:
            return self.error(404, f'model "{model}" not found, try pulling it first')
        answer = _answer(body)
        if body.get("stream") is False:
            return await self.send_json(request, whole_answer(model, answer), behaviour)
        pieces = [dumps(line) + b"\n" for line in chat_lines(model, answer)]
        return await self.send_stream(request, pieces, behaviour, NDJSON)
