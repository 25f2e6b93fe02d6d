"""Which conversation a request belongs to: the key the body states, a session header, or the
hash of the conversation's start, stable across its turns and distinct between
conversations."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict

from airelay.formats.names import WireFormat
from airelay.formats.session import RESPONSES, session_key

NO_HEADERS: dict[str, str] = {}
SYSTEM = "You are a careful coding agent."


def chat_turns(first: str, turns: int) -> list[dict[str, Any]]:
    """The payloads of ``turns`` turns of one chat conversation (each appends)."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": first},
    ]
    payloads = []
    for turn in range(turns):
        payloads.append({"model": "m", "messages": [dict(m) for m in messages]})
        messages.append({"role": "assistant", "content": f"answer {turn}"})
        messages.append({"role": "user", "content": f"follow-up {turn}"})
    return payloads


def anthropic_turns(first: str, turns: int) -> list[dict[str, Any]]:
    """Claude Code's way: the system prompt in blocks, ``cache_control`` on the newest
    message's last block (it moves each turn)."""
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": first}]}
    ]
    payloads = []
    for turn in range(turns):
        sent = [
            {"role": m["role"], "content": [dict(block) for block in m["content"]]}
            for m in messages
        ]
        sent[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        payloads.append({"model": "m", "max_tokens": 10, "system": system, "messages": sent})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"a{turn}"}]})
        messages.append({"role": "user", "content": [{"type": "text", "text": f"u{turn}"}]})
    return payloads


def gemini_turns(first: str, turns: int) -> list[dict[str, Any]]:
    contents: list[dict[str, Any]] = [{"role": "user", "parts": [{"text": first}]}]
    payloads = []
    for turn in range(turns):
        payloads.append(
            {"systemInstruction": {"parts": [{"text": SYSTEM}]}, "contents": list(contents)}
        )
        contents.append({"role": "model", "parts": [{"text": f"a{turn}"}]})
        contents.append({"role": "user", "parts": [{"text": f"u{turn}"}]})
    return payloads


TURNS = {
    WireFormat.OPENAI: chat_turns,
    WireFormat.ANTHROPIC: anthropic_turns,
    WireFormat.GEMINI: gemini_turns,
}


@pytest.mark.parametrize("fmt", list(TURNS))
def test_prefix_hash_is_stable_across_turns_and_differs_between_conversations(
    fmt: WireFormat,
) -> None:
    one = {session_key(fmt, payload, NO_HEADERS) for payload in TURNS[fmt]("fix the bug", 5)}
    other = {session_key(fmt, payload, NO_HEADERS) for payload in TURNS[fmt]("write tests", 5)}
    assert len(one) == 1 and len(other) == 1
    assert one != other
    (key,) = one
    assert key is not None and key.startswith("p:")


def test_the_system_prompt_is_part_of_the_prefix() -> None:
    payload = chat_turns("hello", 1)[0]
    other = {
        **payload,
        "messages": [{"role": "system", "content": "Other."}, payload["messages"][1]],
    }
    assert session_key(WireFormat.OPENAI, payload, NO_HEADERS) != session_key(
        WireFormat.OPENAI, other, NO_HEADERS
    )


def test_a_stated_key_wins_over_headers_and_the_prefix() -> None:
    headers = CIMultiDict({"session_id": "codex-session"})
    payload = {**chat_turns("hello", 1)[0], "prompt_cache_key": "conv-1"}
    assert session_key(WireFormat.OPENAI, payload, headers) == "k:conv-1"
    anthropic = {**anthropic_turns("hello", 1)[0], "metadata": {"user_id": "user_x_session_y"}}
    claude_headers = CIMultiDict({"X-Claude-Code-Session-Id": "abc"})
    assert session_key(WireFormat.ANTHROPIC, anthropic, claude_headers) == "k:user_x_session_y"


def test_session_headers_are_read_case_insensitively() -> None:
    payload = anthropic_turns("hello", 1)[0]
    headers = CIMultiDict({"X-Claude-Code-Session-Id": "abc"})
    assert session_key(WireFormat.ANTHROPIC, payload, headers) == "h:abc"
    chat = chat_turns("x", 1)[0]
    assert session_key(WireFormat.OPENAI, chat, {"session_id": "s1"}) == "h:s1"
    for name in ("Session-Id", "X-Session-Id", "x-session-affinity"):
        assert session_key(WireFormat.OPENAI, chat, CIMultiDict({name: "s2"})) == "h:s2"
    # Claude Code's own header wins over another client's.
    both = CIMultiDict({"session_id": "codex", "x-claude-code-session-id": "claude"})
    assert session_key(WireFormat.OPENAI, chat, both) == "h:claude"
    # An empty header or key counts as none.
    empty = {**chat_turns("x", 1)[0], "prompt_cache_key": ""}
    key = session_key(WireFormat.OPENAI, empty, {"session_id": ""})
    assert key is not None and key.startswith("p:")


def test_responses_reader() -> None:
    stated = {"model": "m", "input": "hi", "prompt_cache_key": "codex-conv"}
    assert RESPONSES.stated(stated) == "codex-conv"
    turns = [
        {"instructions": SYSTEM, "input": "fix it"},
        {
            "instructions": SYSTEM,
            "input": [
                {"role": "user", "content": "fix it"},
                {"type": "function_call", "call_id": "c1", "name": "sh", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
        },
    ]
    assert len({RESPONSES.prefix(t) for t in turns}) == 1
    other = {"instructions": SYSTEM, "input": "something else"}
    assert RESPONSES.prefix(other) != RESPONSES.prefix(turns[0])
    codex = {
        "instructions": SYSTEM,
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "p"}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
        ],
    }
    assert RESPONSES.prefix(codex) is not None


@pytest.mark.parametrize(
    ("fmt", "payload"),
    [
        (WireFormat.OPENAI_EMBEDDINGS, {"model": "e", "input": "text"}),
        (WireFormat.OPENAI, {"model": "m", "messages": "not a list"}),
        (WireFormat.OPENAI, {"model": "m", "messages": [{"role": "assistant", "content": "x"}]}),
        (WireFormat.ANTHROPIC, {"model": "m", "messages": [1, 2]}),
        (WireFormat.ANTHROPIC, {"model": "m", "metadata": "x", "messages": None}),
        (WireFormat.GEMINI, {"contents": {}}),
    ],
    ids=["embeddings", "messages-not-list", "no-user", "junk", "bad-metadata", "bad-contents"],
)
def test_no_session_without_a_conversation(fmt: WireFormat, payload: dict[str, Any]) -> None:
    assert session_key(fmt, payload, NO_HEADERS) is None


def test_long_prefixes_are_told_apart_by_length_and_ends() -> None:
    """A long system prompt or first message is fingerprinted by its length and its ends:
    where agents put the environment and the user's request."""
    context = "context line\n" * 2000

    def key(system: str, first: str) -> str | None:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": first}]
        return session_key(WireFormat.OPENAI, {"messages": messages}, NO_HEADERS)

    base = key(context + "cwd: /src/a", context + "fix the test")
    assert base == key(context + "cwd: /src/a", context + "fix the test")
    assert base != key(context + "cwd: /src/b", context + "fix the test")  # environment
    assert base != key(context + "cwd: /src/a", context + "fix the bug!")  # request
    assert base != key(context + "cwd: /src/a", context + "fix the test.")  # length
    middle = context[:10_000] + "X" + context[10_001:]
    assert base == key(middle + "cwd: /src/a", context + "fix the test")  # not read
