"""Thinking that Anthropic accepts in a tool loop whose signed thinking did not come back.

Anthropic's rule (its thinking-with-tool-use documentation, and the 400 it answers): with
thinking on, *the final assistant message must start with a thinking (or
redacted_thinking) block preceding the lastmost set of tool_use and tool_result blocks*;
a tool loop is one assistant turn, and the thinking block must come back unmodified,
signature included. A client that cannot return the signature (an OpenAI chat client that
keeps only ``reasoning_content``, history from another provider) would otherwise have
thinking switched off from the turn after its first tool call on.

Instead the open tool loop is closed: the final assistant message's calls and the results
answering them go as text blocks, so no assistant message with tool_use is pending and a
new assistant turn, with thinking, begins. The model still sees what it called and what
came back; the tools stay declared for its next calls.
"""

from __future__ import annotations

from typing import Any, Final

from airelay.formats.json_text import compact_json

Json = dict[str, Any]

THINKING_BLOCKS: Final = frozenset({"thinking", "redacted_thinking"})


def unsigned_tool_loop(turns: list[Json]) -> bool:
    """Whether the final assistant message calls tools but does not open with thinking."""
    last = next((t["content"] for t in reversed(turns) if t["role"] == "assistant"), None)
    if not last:
        return False
    return last[0]["type"] not in THINKING_BLOCKS and any(b["type"] == "tool_use" for b in last)


def close_tool_loop(turns: list[Json]) -> list[Json]:
    """``turns`` with the final assistant message's tool_use blocks, and the tool_result
    blocks answering them, told as text (the turns are not changed; new ones are made)."""
    index = max(i for i, t in enumerate(turns) if t["role"] == "assistant")
    names: dict[str, str] = {}
    out = list(turns[:index])
    blocks: list[Json] = []
    for block in turns[index]["content"]:
        if block["type"] == "tool_use":
            names[block["id"]] = block["name"]
            call = f"[called the tool {block['name']} with {compact_json(block['input'])}]"
            blocks.append({"type": "text", "text": call})
        else:
            blocks.append(block)
    out.append({"role": "assistant", "content": blocks})
    for turn in turns[index + 1 :]:
        content: list[Json] = []
        for block in turn["content"]:
            if block["type"] == "tool_result" and block.get("tool_use_id") in names:
                content.extend(_result_text(block, names[block["tool_use_id"]]))
            else:
                content.append(block)
        out.append({"role": turn["role"], "content": content})
    return out


def _result_text(block: Json, name: str) -> list[Json]:
    inner = block.get("content") or []
    if isinstance(inner, str):
        inner = [{"type": "text", "text": inner}]
    text = "".join(b.get("text", "") for b in inner if b.get("type") == "text")
    status = "an error" if block.get("is_error") else "a result"
    head = {"type": "text", "text": f"[the tool {name} gave {status}: {text}]"}
    return [head, *(b for b in inner if b.get("type") != "text")]
