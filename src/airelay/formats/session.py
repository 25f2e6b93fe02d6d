"""Which conversation a request belongs to, read from the request as its format writes it:
what session affinity keys on, so that the turns of one conversation reach the same channel
and upstream key and the upstream's prompt cache stays warm.

``session_key(fmt, payload, headers)`` gives, first found:

1. a key the client states in the body: OpenAI's ``prompt_cache_key`` (chat and Responses;
   Codex and opencode send their conversation id there), Anthropic's ``metadata.user_id``
   (Claude Code writes its session id into it);
2. a session header: ``x-claude-code-session-id`` (Claude Code), ``session-id`` or
   ``session_id`` (Codex, newer and older), ``x-session-id`` or ``x-session-affinity``
   (opencode);
3. else a hash of the conversation's prefix: the system prompt (``system``, ``instructions``,
   ``systemInstruction``, leading system/developer messages) and the first user message.
   Both are the same in every turn of a conversation (later turns only append), and two
   conversations that differ there differ in their hash (a fingerprint of each part's
   length, beginning and end: see ``_digest``). Two that start alike share a binding, which
   is no loss: their cached prefix is the same too. ``cache_control`` marks
   are left out of the hash, since agents move them to the newest message on each turn.

``None``: no conversation to keep together (a format without one, or no user message).
The key is the client's own text; the relay scopes it by user and model and hashes it
before it stores anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import orjson

from airelay.formats.names import WireFormat

Json = dict[str, Any]

#: Session headers, in the order they are looked for (matched case-insensitively by the
#: server's header mapping).
SESSION_HEADERS = (
    "x-claude-code-session-id",
    "session-id",
    "session_id",
    "x-session-id",
    "x-session-affinity",
)


def _stated(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _clean(value: Any) -> Any:
    """A message or its content blocks without ``cache_control`` (one level of blocks:
    where the formats put it)."""
    if isinstance(value, dict):
        if "cache_control" in value:
            value = {k: v for k, v in value.items() if k != "cache_control"}
        content = value.get("content")
        if isinstance(content, list):
            value = {**value, "content": [_clean(block) for block in content]}
        return value
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


#: Bytes of each part of a prefix that are hashed at each end: a coding agent's system
#: prompt is 15-40 kB, and hashing all of it on every call would cost tens of µs.
SAMPLE = 1024


def _digest(parts: list[Any]) -> str:
    """A fingerprint of the prefix, not a security boundary (the session is scoped by the
    caller's user): each part's length and its first and last ``SAMPLE`` bytes as JSON,
    which hold an agent's instructions, its environment (the end of its system prompt) and
    the user's request (the end of the first message)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for part in parts:
        data = orjson.dumps(_clean(part))
        digest.update(len(data).to_bytes(8, "little"))
        if len(data) > 2 * SAMPLE:
            digest.update(data[:SAMPLE])
            digest.update(data[-SAMPLE:])
        else:
            digest.update(data)
    return "p:" + digest.hexdigest()


def _prefix(head: list[Any], messages: object, lead: tuple[str, ...]) -> str | None:
    """The hash of ``head`` (the system prompt) and the messages up to the first user
    one: those whose role is in ``lead`` before it are part of the prefix too."""
    if not isinstance(messages, list):
        return None
    for message in messages:
        if not isinstance(message, dict):
            return None
        role = message.get("role", "user")
        if role == "user":
            head.append(message)
            return _digest(head)
        if role not in lead:
            return None
        head.append(message)
    return None


class Reader(NamedTuple):
    """How one format's body tells its conversation."""

    stated: Callable[[Json], str | None]  # the key the body states, if any
    prefix: Callable[[Json], str | None]  # the hash of its prefix (only when none is stated)


def _chat_stated(payload: Json) -> str | None:
    return _stated(payload.get("prompt_cache_key"))


def _chat_prefix(payload: Json) -> str | None:
    return _prefix([], payload.get("messages"), ("system", "developer"))


def _anthropic_stated(payload: Json) -> str | None:
    metadata = payload.get("metadata")
    return _stated(metadata.get("user_id")) if isinstance(metadata, dict) else None


def _anthropic_prefix(payload: Json) -> str | None:
    return _prefix([payload.get("system")], payload.get("messages"), ())


def _gemini_stated(payload: Json) -> str | None:
    return None  # Gemini's body has no conversation id


def _gemini_prefix(payload: Json) -> str | None:
    system = payload.get("systemInstruction", payload.get("system_instruction"))
    return _prefix([system], payload.get("contents"), ())


def _responses_prefix(payload: Json) -> str | None:
    items = payload.get("input")
    if isinstance(items, str):  # a string input is the first user message
        items = [{"role": "user", "content": items}]
    return _prefix([payload.get("instructions")], items, ("system", "developer"))


#: The OpenAI Responses API's reader: ``prompt_cache_key``, else ``instructions`` and the
#: input up to its first user message.
RESPONSES = Reader(_chat_stated, _responses_prefix)

#: Each conversational format's reader (a format not listed has no session).
READERS: dict[WireFormat, Reader] = {
    WireFormat.OPENAI: Reader(_chat_stated, _chat_prefix),
    WireFormat.ANTHROPIC: Reader(_anthropic_stated, _anthropic_prefix),
    WireFormat.GEMINI: Reader(_gemini_stated, _gemini_prefix),
    WireFormat.RESPONSES: RESPONSES,
}


def session_key(fmt: WireFormat, payload: Json, headers: Mapping[str, str]) -> str | None:
    """The conversation a request of format ``fmt`` belongs to (see the module's doc), or
    None. Never raises for a malformed body: it has no session then."""
    reader = READERS.get(fmt)
    if reader is None:
        return None
    stated = reader.stated(payload)
    if stated is not None:
        return "k:" + stated
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value:
            return "h:" + value
    try:
        return reader.prefix(payload)
    except (TypeError, orjson.JSONEncodeError):  # a body orjson cannot encode back
        return None
