"""One fake upstream that plays the model for the coding-agent CLIs, in each provider's wire
format (Anthropic Messages, OpenAI chat completions, Gemini), over real HTTP on loopback.

The CLIs send large, changing prompts (their system prompt, a dozen tools), so the fake
does not answer by word counts as the other fakes do; it plays one scripted turn:

* a user turn that asks ``READ_FILE <path>`` while tools are offered gets one call of the
  CLI's file-reading tool (``Read``, ``read_file``, ``read``, ``exec_command`` with ``cat``), its
  arguments built from that tool's own schema;
* a turn that carries that tool's result (a ``tool_result`` block, or an Anthropic text block
  ``[the tool <name> gave a result: <result>]``) gets the text ``FILE SAYS: <result>``;
* anything else gets ``PONG``.

The OpenAI Responses API is spoken too (Codex CLI speaks nothing else), streamed with the
event sequence its clients wait for (``response.created`` ... ``response.completed``); a
request whose input ends with a ``compaction_trigger`` (Codex's remote compaction) gets one
``compaction`` item of opaque content (``UPSTREAM_COMPACTION``).

So a CLI that prints the file's secret went through a tool call and its result, both ways,
through the gateway. Every request is recorded (path, query, headers, body) for the tests to
assert what the gateway forwarded.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from fakes.loopback import ThreadedApp

Json = dict[str, Any]
#: The opaque content of this upstream's own compaction items.
UPSTREAM_COMPACTION = "agent-upstream-compaction-"
ASK = re.compile(r"READ_FILE ([^\s\"'<>]+)")


@dataclass(frozen=True)
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    body: Json


@dataclass(frozen=True)
class Turn:
    """What the model does this turn: call ``tool`` with ``arguments``, or say ``text``."""

    text: str | None = None
    tool: str | None = None
    arguments: Json | None = None


def _texts(value: Any) -> list[str]:
    """Every string under ``text`` / ``content`` / ``output`` keys, or the value itself."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if isinstance(value, dict):
        found: list[str] = []
        for key in ("text", "content", "output", "response", "result"):
            if key in value:
                found += _texts(value[key])
        return found
    return []


def _arguments(name: str, schema: Json, path: str) -> Json:
    if name == "exec_command":
        return {"cmd": f"cat {path}"}
    properties = schema.get("properties") or {}
    for field in ("file_path", "absolute_path", "filePath", "path"):
        if field in properties:
            return {field: path}
    raise AssertionError(f"the tool {name} takes no file path: {schema}")


READERS = ("Read", "read_file", "read", "exec_command")


def play(last_user_texts: list[str], tool_result: str | None, tools: dict[str, Json]) -> Turn:
    if tool_result is not None:
        return Turn(text="FILE SAYS: " + tool_result.strip())
    asked = next((m for t in last_user_texts if (m := ASK.search(t))), None)
    if asked and tools:
        name = next((n for n in READERS if n in tools), None)
        if name is not None:
            return Turn(tool=name, arguments=_arguments(name, tools[name], asked.group(1)))
    return Turn(text="PONG")


#: A tool result told as text, as a model reads one (the gateway tells a tool loop so when
#: it must keep thinking on without the loop's signed thinking).
TOLD_RESULT = re.compile(r"\[the tool \S+ gave a result: (.*)\]\Z", re.DOTALL)


def _told_result(texts: list[str]) -> str | None:
    found = [m.group(1) for t in texts if (m := TOLD_RESULT.match(t))]
    return found[-1] if found else None


def _sse(event: str | None, data: Json) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


class AgentUpstream(ThreadedApp):
    label = "AgentUpstream"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Seen] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1beta/models/{action}", self._gemini)
        app.router.add_post("/v1/responses", self._responses)
        return app

    async def _record(self, request: web.Request) -> Json:
        body: Json = await request.json()
        self.seen.append(Seen(request.path, request.query_string, dict(request.headers), body))
        return body

    # ---- Anthropic Messages ------------------------------------------------------------
    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return web.json_response({"input_tokens": 42})

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        # The newest user turn (Claude Code may put system text after it).
        last = next(m for m in reversed(body["messages"]) if m["role"] == "user")
        blocks = last["content"] if isinstance(last["content"], list) else [last["content"]]
        results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
        tools = {t["name"]: t.get("input_schema", {}) for t in body.get("tools", [])}
        result = "\n".join(_texts(results[-1])) if results else _told_result(_texts(blocks))
        turn = play(_texts(blocks), result, tools)
        if turn.tool is not None:
            block: Json = {
                "type": "tool_use",
                "id": "toolu_" + secrets.token_hex(8),
                "name": turn.tool,
                "input": turn.arguments,
            }
            stop = "tool_use"
        else:
            block, stop = {"type": "text", "text": turn.text}, "end_turn"
        usage = {"input_tokens": 100, "output_tokens": 10}
        message = {
            "id": "msg_" + secrets.token_hex(8),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        if not body.get("stream"):
            return web.json_response(message)
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        if block["type"] == "text":
            first, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": turn.text}
        else:
            first = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(turn.arguments)}
        events = [
            _sse("message_start", {"type": "message_start", "message": start}),
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": first},
            ),
            _sse(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            ),
            _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop},
                    "usage": {"output_tokens": 10},
                },
            ),
            _sse("message_stop", {"type": "message_stop"}),
        ]
        return await self._stream(request, events)

    # ---- OpenAI chat completions ---------------------------------------------------------
    async def _openai(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        last = next(m for m in reversed(body["messages"]) if m["role"] != "system")
        result = "\n".join(_texts(last.get("content"))) if last["role"] == "tool" else None
        tools = {
            t["function"]["name"]: t["function"].get("parameters", {})
            for t in body.get("tools", [])
            if t.get("type") == "function"
        }
        turn = play(_texts(last.get("content")), result, tools)
        message: Json = {"role": "assistant", "content": turn.text}
        finish = "stop"
        if turn.tool is not None:
            call = {
                "id": "call_" + secrets.token_hex(8),
                "type": "function",
                "function": {"name": turn.tool, "arguments": json.dumps(turn.arguments)},
            }
            message, finish = (
                {"role": "assistant", "content": None, "tool_calls": [call]},
                "tool_calls",
            )
        usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
        base = {"id": "chatcmpl-" + secrets.token_hex(8), "created": 1, "model": body["model"]}
        if not body.get("stream"):
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return web.json_response(
                {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        delta = {**message}
        if "tool_calls" in delta:
            delta["tool_calls"] = [{"index": 0, **delta["tool_calls"][0]}]
        chunk = {**base, "object": "chat.completion.chunk"}
        events = [
            _sse(None, {**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}),
            _sse(None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(_sse(None, {**chunk, "choices": [], "usage": usage}))
        return await self._stream(request, [*events, b"data: [DONE]\n\n"])

    # ---- Gemini --------------------------------------------------------------------------
    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        model, _, action = request.match_info["action"].partition(":")
        parts = body["contents"][-1].get("parts", [])
        responses = [p["functionResponse"] for p in parts if "functionResponse" in p]
        tools = {
            d["name"]: d.get("parameters") or d.get("parametersJsonSchema") or {}
            for t in body.get("tools", [])
            for d in t.get("functionDeclarations", [])
        }
        result = "\n".join(_texts(responses[-1].get("response"))) if responses else None
        turn = play(_texts(parts), result, tools)
        part: Json = (
            {"functionCall": {"name": turn.tool, "args": turn.arguments}}
            if turn.tool is not None
            else {"text": turn.text}
        )
        answer = {
            "candidates": [
                {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": 100,
                "candidatesTokenCount": 10,
                "totalTokenCount": 110,
            },
            "modelVersion": model,
        }
        if action == "countTokens":
            return web.json_response({"totalTokens": 42})
        if action != "streamGenerateContent":
            return web.json_response(answer)
        return await self._stream(request, [_sse(None, answer)])

    # ---- OpenAI Responses ----------------------------------------------------------------
    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        items = body["input"]
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        last = next(i for i in reversed(items) if i.get("role") != "developer")
        result = "\n".join(_texts(last)) if last.get("type") == "function_call_output" else None
        tools = {
            t["name"]: t.get("parameters", {})
            for t in body.get("tools", [])
            if t.get("type") == "function"
        }
        turn = play(_texts(last.get("content")), result, tools)
        if last.get("type") == "compaction_trigger":
            # Remote compaction: one opaque item the upstream alone can read back.
            item: Json = {
                "type": "compaction",
                "id": "cmp_" + secrets.token_hex(8),
                "encrypted_content": UPSTREAM_COMPACTION + secrets.token_hex(8),
            }
        elif turn.tool is not None:
            item = {
                "type": "function_call",
                "id": "fc_" + secrets.token_hex(8),
                "call_id": "call_" + secrets.token_hex(8),
                "name": turn.tool,
                "arguments": json.dumps(turn.arguments),
                "status": "completed",
            }
        else:
            item = {
                "type": "message",
                "id": "msg_" + secrets.token_hex(8),
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": turn.text, "annotations": []}],
            }
        usage = {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 10,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 110,
        }
        response: Json = {
            "id": "resp_" + secrets.token_hex(8),
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": body["model"],
            "output": [item],
            "usage": usage,
        }
        if not body.get("stream"):
            return web.json_response(response)
        pending = {**response, "status": "in_progress", "output": [], "usage": None}
        opened = {**item, "status": "in_progress"}
        if item["type"] == "message":
            opened["content"] = []
        events: list[Json] = [
            {"type": "response.created", "response": pending},
            {"type": "response.in_progress", "response": pending},
            {"type": "response.output_item.added", "output_index": 0, "item": opened},
        ]
        if item["type"] == "message":
            part = {"type": "output_text", "text": "", "annotations": []}
            at = {"item_id": item["id"], "output_index": 0, "content_index": 0}
            events += [
                {"type": "response.content_part.added", **at, "part": part},
                {"type": "response.output_text.delta", **at, "delta": turn.text},
                {"type": "response.output_text.done", **at, "text": turn.text},
                {"type": "response.content_part.done", **at, "part": item["content"][0]},
            ]
        elif item["type"] == "function_call":
            at = {"item_id": item["id"], "output_index": 0}
            events += [
                {
                    "type": "response.function_call_arguments.delta",
                    **at,
                    "delta": item["arguments"],
                },
                {
                    "type": "response.function_call_arguments.done",
                    **at,
                    "arguments": item["arguments"],
                },
            ]
        events += [
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {"type": "response.completed", "response": response},
        ]
        numbered = [_sse(e["type"], {**e, "sequence_number": n}) for n, e in enumerate(events)]
        return await self._stream(request, numbered)

    async def _stream(self, request: web.Request, events: list[bytes]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            await response.write(event)
        await response.write_eof()
        return response
