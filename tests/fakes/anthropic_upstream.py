"""A fake Anthropic Messages upstream, served over real HTTP on loopback.

Same control surface as ``FakeOpenAI`` (``start()/stop()``, context manager, ``base_url``,
``requests``, ``script(*Behaviour)`` FIFO, ``reset()``, ``disconnects``,
``wait_for_disconnects``) and the same ``Behaviour`` objects: the server machinery of all
the fakes is ``loopback.LoopbackFake``.

Answer rules (deterministic, as the OpenAI fake's):

* text is ``"Hello! You said: " + <text of the last user turn>``; when the last user turn
  holds ``tool_result`` blocks it is ``"Tool said: " + <text of the last result>``;
* with ``tools`` (and ``tool_choice`` not ``none``) and no tool result in the last turn the
  answer is one ``tool_use`` block per tool, at most 2 (1 with
  ``disable_parallel_tool_use``; only the named one with ``tool_choice`` ``tool``), input
  ``TOOL_INPUT``, ``stop_reason`` ``tool_use``;
* models whose name contains ``think`` first give a ``thinking`` block ``REASONING_TEXT``
  with signature ``SIGNATURE``;
* tokens are whitespace-separated words: input = words of the system prompt and all text
  blocks (min 1); output = words of text + thinking + the tool inputs' JSON; text is cut to
  ``max_tokens`` words with ``stop_reason`` ``max_tokens``;
* betas named in ``rejected_betas`` make any call sending them in ``anthropic-beta`` a 400,
  as Anthropic-compatible upstreams that do not know a beta answer;
* thinking blocks sent back are checked as documented: a signature must be Anthropic's
  (a base64 protobuf, ``Eq...``: another provider's or a gateway's token is a 400), and with
  thinking on, a final assistant message that calls tools must open with a thinking or
  redacted_thinking block (the 400 Anthropic answers, word for word).

Every request is recorded as received (path with its query, header fields, raw body).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .loopback import Behaviour, LoopbackFake, RecordedRequest, dumps
from .openai_payloads import REASONING_TEXT, TOOL_ARGUMENTS, text_of, words

__all__ = [
    "REASONING_TEXT",
    "SIGNATURE",
    "TOOL_INPUT",
    "Behaviour",
    "FakeAnthropic",
    "LoopbackFake",
    "RecordedRequest",
    "anthropic_answer",
]

SIGNATURE = "EqQBCgIYAhIMfakeSignature0123"
TOOL_INPUT: dict[str, Any] = json.loads(TOOL_ARGUMENTS)
DEFAULT_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-think-4")
PIECE = re.compile(r"\s*\S+\s*")  # a word and its surrounding space; pieces re-join exactly

Json = dict[str, Any]


def split(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


# ---- Anthropic ---------------------------------------------------------------------------

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class AnthropicAnswer:
    thinking: str | None
    text: str | None
    tools: tuple[str, ...]
    stop_reason: str
    input_tokens: int
    output_tokens: int


def _blocks_text(content: Any) -> str:
    return text_of(content)


def _system_text(system: Any) -> str:
    return text_of(system)


def _last_tool_result(message: Json) -> Json | None:
    content = message.get("content")
    if not isinstance(content, list):
        return None
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    return results[-1] if results else None


def _tool_names(body: Json) -> tuple[str, ...]:
    tools, choice = body.get("tools"), body.get("tool_choice") or {}
    if not isinstance(tools, list) or not tools or choice.get("type") == "none":
        return ()
    names = [str(t.get("name", "")) for t in tools if isinstance(t, dict)]
    if choice.get("type") == "tool":
        names = [n for n in names if n == choice.get("name")] or names
    limit = 1 if choice.get("disable_parallel_tool_use") else 2
    return tuple(names[:limit])


def anthropic_answer(body: Json) -> AnthropicAnswer:
    """The answer the fake gives to a (valid) Messages request body."""
    messages = [m for m in body["messages"] if isinstance(m, dict)]
    prompt_words = words(_system_text(body.get("system"))) + sum(
        words(_blocks_text(m.get("content"))) for m in messages
    )
    prompt = max(1, prompt_words)
    thinking = REASONING_TEXT if "think" in str(body.get("model", "")) else None
    last = messages[-1] if messages else {}
    result = _last_tool_result(last) if last.get("role") == "user" else None
    names = () if result is not None else _tool_names(body)
    if names:
        done = words(TOOL_ARGUMENTS) * len(names) + words(thinking)
        return AnthropicAnswer(thinking, None, names, "tool_use", prompt, done)
    if result is not None:
        text = "Tool said: " + _blocks_text(result.get("content"))
    else:
        users = [m for m in messages if m.get("role") == "user"]
        text = "Hello! You said: " + (_blocks_text(users[-1].get("content")) if users else "")
    stop = "end_turn"
    limit = body.get("max_tokens")
    if isinstance(limit, int) and limit < words(text):
        text, stop = "".join(PIECE.findall(text)[:limit]).rstrip(), "max_tokens"
    return AnthropicAnswer(thinking, text, (), stop, prompt, words(text) + words(thinking))


TOOL_LOOP_RULE = (
    "messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
    "`{found}`. When `thinking` is enabled, a final `assistant` message must start with a "
    "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). "
    "We recommend you include thinking blocks from previous turns. To avoid this "
    "requirement, disable `thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)


def thinking_problem(body: Json) -> str | None:
    """What Anthropic would refuse in the thinking of a request, or None."""
    messages = body["messages"]
    for i, message in enumerate(messages):
        content = message.get("content")
        for j, block in enumerate(content if isinstance(content, list) else ()):
            if isinstance(block, dict) and block.get("type") == "thinking":
                signature = block.get("signature")
                if not isinstance(signature, str) or not signature.startswith("Eq"):
                    return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    content = messages[last].get("content") if last is not None else None
    if not isinstance(content, list) or not content:
        return None
    calls = any(isinstance(b, dict) and b.get("type") == "tool_use" for b in content)
    first = content[0].get("type") if isinstance(content[0], dict) else None
    if calls and first not in ("thinking", "redacted_thinking"):
        return TOOL_LOOP_RULE.format(index=last, found=first)
    return None


def _tool_id() -> str:
    return "toolu_01" + secrets.token_hex(11)


def _content(answer: AnthropicAnswer) -> list[Json]:
    blocks: list[Json] = []
    if answer.thinking is not None:
        blocks.append({"type": "thinking", "thinking": answer.thinking, "signature": SIGNATURE})
    if answer.text is not None:
        blocks.append({"type": "text", "text": answer.text})
    for name in answer.tools:
        blocks.append({"type": "tool_use", "id": _tool_id(), "name": name, "input": TOOL_INPUT})
    return blocks


def _usage(input_tokens: int, output_tokens: int) -> Json:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }


def message(model: str, answer: AnthropicAnswer) -> Json:
    return {
        "id": "msg_01" + secrets.token_hex(11),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(answer),
        "stop_reason": answer.stop_reason,
        "stop_sequence": None,
        "usage": _usage(answer.input_tokens, answer.output_tokens),
    }


def _event(name: str, data: Json) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps({"type": name, **data}) + b"\n\n"


def stream_events(model: str, answer: AnthropicAnswer) -> list[bytes]:
    """The SSE events of a streamed answer, in the documented order."""
    head = message(model, answer)
    head.update(content=[], stop_reason=None, usage=_usage(answer.input_tokens, 1))
    events = [_event("message_start", {"message": head})]
    for index, block in enumerate(_content(answer)):
        kind = block["type"]
        if kind == "thinking":
            start: Json = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in PIECE.findall(block[kind])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in PIECE.findall(block["text"])]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": p} for p in split(TOOL_ARGUMENTS, 4)
            ]
        events.append(_event("content_block_start", {"index": index, "content_block": start}))
        if index == 0:
            events.append(_event("ping", {}))
        events += [_event("content_block_delta", {"index": index, "delta": d}) for d in deltas]
        events.append(_event("content_block_stop", {"index": index}))
    delta = {"stop_reason": answer.stop_reason, "stop_sequence": None}
    events.append(
        _event("message_delta", {"delta": delta, "usage": {"output_tokens": answer.output_tokens}})
    )
    events.append(_event("message_stop", {}))
    return events


class FakeAnthropic(LoopbackFake):
    """``with FakeAnthropic() as fake: anthropic.Anthropic(base_url=fake.base_url, ...)``."""

    label = "FakeAnthropic"

    def __init__(
        self,
        api_keys: Sequence[str] = ("sk-ant-upstream-test",),
        name: str = "fake-anthropic",
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        super().__init__(api_keys, name, models)
        #: Betas this upstream refuses (a 400, as the real API gives for an unknown one).
        self.rejected_betas: frozenset[str] = frozenset()

    @property
    def base_url(self) -> str:
        """As the Anthropic SDK takes it (it appends ``/v1/messages``)."""
        return self.origin

    def reset(self) -> None:
        super().reset()
        self.rejected_betas = frozenset()

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.split("?")[0] == "/v1/messages"]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._models)

    def headers(self, **extra: str) -> dict[str, str]:
        return super().headers(**{"request-id": "req_01" + secrets.token_hex(11), **extra})

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        kind = type_ or _ERROR_TYPES.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
        return web.json_response(body, status=status, headers=self.headers())

    async def _checked(
        self, request: web.Request
    ) -> tuple[Any, Behaviour, web.StreamResponse | None]:
        body, behaviour = await self.record(request)
        # x-api-key as documented; the Anthropic SDK 2.x sends the key as a bearer token.
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
        key = request.headers.get("x-api-key", "") or bearer
        early = await self.before(request, behaviour, key)
        if early is not None:
            return body, behaviour, early
        if not key:
            return body, behaviour, self.error(401, "x-api-key header is required")
        if key not in self.api_keys:
            return body, behaviour, self.error(401, f"invalid x-api-key: {key}")
        if not request.headers.get("anthropic-version"):
            return body, behaviour, self.error(400, "anthropic-version: header is required")
        sent = {b.strip() for b in request.headers.get("anthropic-beta", "").split(",")}
        refused = sorted(sent & self.rejected_betas)
        if refused:
            names = ", ".join(f"`{name}`" for name in refused)
            message = f"Unexpected value(s) {names} for the `anthropic-beta` header."
            return body, behaviour, self.error(400, message)
        return body, behaviour, None

    def _invalid(self, body: Any, *, count: bool = False) -> web.Response | None:
        if not isinstance(body, dict):
            return self.error(400, "There was an error parsing the body of your request")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self.error(400, "model: Field required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.error(400, "messages: Field required")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
                return self.error(400, f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if not count and not isinstance(body.get("max_tokens"), int):
            return self.error(400, "max_tokens: Field required")
        problem = thinking_problem(body)
        return None if problem is None else self.error(400, problem)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, behaviour, early = await self._checked(request)
        if early is not None:
            return early
        invalid = self._invalid(body)
        if invalid is not None:
            return invalid
        answer = anthropic_answer(body)
        if body.get("stream") is not True:
            return await self.send_json(request, message(body["model"], answer), behaviour)
        events = stream_events(body["model"], answer)
        return await self.send_stream(request, events, behaviour, "text/event-stream")

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body, behaviour, early = await self._checked(request)
        if early is not None:
            return early
        invalid = self._invalid(body, count=True)
        if invalid is not None:
            return invalid
        tokens = anthropic_answer({**body, "tools": None}).input_tokens
        return await self.send_json(request, {"input_tokens": tokens}, behaviour)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        _, behaviour, early = await self._checked(request)
        if early is not None:
            return early
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        page = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        return await self.send_json(request, page, behaviour)
