"""Deterministic OpenAI Chat Completions payloads for the fake upstream (pure functions).

Answer rules (so tests can assert exact values):

* content is ``"Hello! You said: " + <text of the last user message>``; after a ``tool``
  message it is ``"Tool said: " + <that message's content>``;
* with ``tools`` (and ``tool_choice`` not ``"none"``) the answer is one tool call per tool,
  at most 2, each with arguments ``TOOL_ARGUMENTS``;
* models whose name contains ``reasoner`` also get ``reasoning_content`` = ``REASONING_TEXT``;
* tokens are whitespace-separated words: prompt = words of all string contents (min 1),
  completion = words of content (or of the tool-call arguments) + words of reasoning.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

REASONING_TEXT = "Let me think about this."
TOOL_ARGUMENTS = '{"location": "Paris", "unit": "celsius"}'
_PIECE = re.compile(r"\s*\S+\s*")  # one word plus surrounding whitespace; pieces re-join exactly

Json = dict[str, Any]


@dataclass(frozen=True)
class Answer:
    content: str | None
    reasoning: str | None
    tool_names: tuple[str, ...]
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int  # per choice; includes reasoning words, as OpenAI/DeepSeek count
    reasoning_tokens: int  # per choice


def text_of(content: Any) -> str:
    """Text of a message content: a string, or the ``text`` parts of a list joined by spaces."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (p for p in content if isinstance(p, dict) and p.get("type") == "text")
        return " ".join(str(p.get("text", "")) for p in parts)
    return ""


def words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _tool_names(body: Json) -> tuple[str, ...]:
    tools, choice = body.get("tools"), body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice == "none":
        return ()
    names = [str((t.get("function") or {}).get("name", "")) for t in tools if isinstance(t, dict)]
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}
        forced = (choice.get("function") or {}).get("name")
        names = [n for n in names if n == forced] or names
    return tuple(names[:2])


def build_answer(body: Json) -> Answer:
    """The answer the fake gives to a (valid) chat completion request body."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    strings = [m["content"] for m in messages if isinstance(m.get("content"), str)]
    prompt = max(1, sum(words(s) for s in strings))
    reasoning = REASONING_TEXT if "reasoner" in str(body.get("model", "")) else None
    last = messages[-1] if messages else {}
    names = () if last.get("role") == "tool" else _tool_names(body)
    if names:
        done = words(TOOL_ARGUMENTS) * len(names) + words(reasoning)
        return Answer(None, reasoning, names, "tool_calls", prompt, done, words(reasoning))
    if last.get("role") == "tool":
        content = "Tool said: " + text_of(last.get("content"))
    else:
        users = [m for m in messages if m.get("role") == "user"]
        content = "Hello! You said: " + (text_of(users[-1].get("content")) if users else "")
    finish = "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and limit < words(content):
        content, finish = "".join(_PIECE.findall(content)[:limit]).rstrip(), "length"
    done = words(content) + words(reasoning)
    return Answer(content, reasoning, (), finish, prompt, done, words(reasoning))


def usage(answer: Answer, n: int = 1) -> Json:
    completion = answer.completion_tokens * n
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": answer.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": answer.reasoning_tokens * n},
    }


def _tool_calls(answer: Answer) -> list[Json]:
    return [
        {
            "id": f"call_{k}_{secrets.token_hex(6)}",
            "type": "function",
            "function": {"name": name, "arguments": TOOL_ARGUMENTS},
        }
        for k, name in enumerate(answer.tool_names)
    ]


def _message(answer: Answer) -> Json:
    msg: Json = {"role": "assistant", "content": answer.content, "refusal": None, "annotations": []}
    if answer.reasoning is not None:
        msg["reasoning_content"] = answer.reasoning
    if answer.tool_names:
        msg["tool_calls"] = _tool_calls(answer)
    return msg


def completion(head: Json, answer: Answer, n: int) -> Json:
    """A ``chat.completion`` object; ``head`` holds id, created, model and the like."""
    choices = [
        {"index": i, "message": _message(answer), "logprobs": None, "finish_reason": fr}
        for i, fr in enumerate([answer.finish_reason] * n)
    ]
    obj = {"id": head["id"], "object": "chat.completion", **head}  # OpenAI's key order
    return {**obj, "choices": choices, "usage": usage(answer, n)}


def _split(text: str, parts: int) -> list[str]:
    size = -(-len(text) // parts)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _deltas(answer: Answer) -> list[Json]:
    """Stream deltas of one choice, without the final finish_reason chunk."""
    out: list[Json] = [{"role": "assistant", "content": None if answer.tool_names else ""}]
    for piece in _PIECE.findall(answer.reasoning or ""):
        out.append({"content": None, "reasoning_content": piece})
    out += [{"content": p} for p in _PIECE.findall(answer.content or "")]
    for k, call in enumerate(_tool_calls(answer)):
        function = {"name": call["function"]["name"], "arguments": ""}
        start = {"index": k, "id": call["id"], "type": "function", "function": function}
        out.append({"tool_calls": [start]})
        for piece in _split(TOOL_ARGUMENTS, 4):
            out.append({"tool_calls": [{"index": k, "function": {"arguments": piece}}]})
    return out


def stream_chunks(head: Json, answer: Answer, n: int, include_usage: bool) -> list[Json]:
    """All ``chat.completion.chunk`` objects of a stream, in order (without ``[DONE]``)."""
    base = {"id": head["id"], "object": "chat.completion.chunk", **head}
    extra: Json = {"usage": None} if include_usage else {}
    per_choice: list[list[Json | None]] = [[*_deltas(answer), None] for _ in range(n)]
    chunks: list[Json] = []
    for row in zip(*per_choice, strict=True):  # choices interleaved, as OpenAI does for n > 1
        for i, delta in enumerate(row):
            finish = answer.finish_reason if delta is None else None
            choice = {"index": i, "delta": delta or {}, "logprobs": None, "finish_reason": finish}
            chunks.append({**base, "choices": [choice], **extra})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": usage(answer, n)})
    return chunks
