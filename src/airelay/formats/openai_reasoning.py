"""Reasoning in OpenAI chat messages: ``reasoning_content`` and ``reasoning_details``.

OpenAI's own chat API has no field for reasoning; compatible services and the clients made
for them settled on two: ``reasoning_content`` (DeepSeek: the text) and ``reasoning_details``
(OpenRouter: a list of typed entries, the shape tool loops send back so that signed
thinking survives them):

- ``{"type": "reasoning.text", "text": ..., "signature": ..., "format": ..., "index": n}``
- ``{"type": "reasoning.encrypted", "data": ..., "format": ..., "index": n}`` (opaque)
- ``{"type": "reasoning.summary", "summary": ..., "format": ..., "index": n}``

An answer translated for an OpenAI chat client carries both: the text, and each reasoning
part with its (sealed, ``formats.thinking``) signature, so a client that sends the
assistant message back as it got it keeps the thinking of a tool loop. A streamed answer's
signature comes as one ``reasoning.text`` entry of empty text after the part's text (its
text in ``reasoning_content``): read back, that text goes with the first signature.
"""

from __future__ import annotations

from typing import Any, Final

from airelay.formats.ir import Part, Reasoning

Json = dict[str, Any]

#: The ``format`` of the entries the gateway writes (their signatures are sealed tokens).
DETAILS_FORMAT: Final = "airelay-v1"


def encode_details(parts: list[Part]) -> list[Json]:
    """The ``reasoning_details`` of an assistant message's reasoning parts."""
    out: list[Json] = []
    for part in parts:
        if not isinstance(part, Reasoning) or not (part.text or part.signature):
            continue
        entry: Json = {"type": "reasoning.text", "text": part.text}
        if part.signature:
            entry["signature"] = part.signature
        entry["format"] = DETAILS_FORMAT
        entry["index"] = len(out)
        out.append(entry)
    return out


def signature_detail(signature: str, index: int) -> list[Json]:
    """A stream delta's ``reasoning_details`` for a signature that closes a part."""
    return [
        {
            "type": "reasoning.text",
            "text": "",
            "signature": signature,
            "format": DETAILS_FORMAT,
            "index": index,
        }
    ]


def decode_details(details: object, where: str) -> list[Reasoning] | None:
    """Reasoning parts from ``reasoning_details`` (None when there is no such list).
    Entries of one ``index`` merge (a stream's pieces, sent back as they came), text
    entries without a signature join the next one's text; a signature closes a part."""
    if details is None:
        return None
    if not isinstance(details, list):
        raise ValueError(f"'{where}.reasoning_details' must be an array")
    parts: list[Reasoning] = []
    open_part: Reasoning | None = None
    for position, entry in enumerate(details):
        if not isinstance(entry, dict):
            raise ValueError(f"'{where}.reasoning_details[{position}]' must be an object")
        kind = entry.get("type")
        if kind == "reasoning.encrypted":
            data = entry.get("data")
            if isinstance(data, str) and data:
                parts.append(Reasoning("", signature=data))
            open_part = None
            continue
        text = entry.get("text") if kind == "reasoning.text" else entry.get("summary")
        if kind not in ("reasoning.text", "reasoning.summary"):
            continue  # an entry type of a newer client: nothing the IR carries
        if open_part is None:
            open_part = Reasoning("")
            parts.append(open_part)
        if isinstance(text, str):
            open_part.text += text
        signature = entry.get("signature")
        if isinstance(signature, str) and signature:
            open_part.signature = signature
            open_part = None
    return [p for p in parts if p.text or p.signature]


def reasoning_parts(message: Json, where: str) -> list[Reasoning]:
    """The reasoning of an assistant message: its ``reasoning_details`` when it has
    them (they hold the signatures), else ``reasoning_content`` (or ``reasoning``)."""
    parts = decode_details(message.get("reasoning_details"), where)
    text = message.get("reasoning_content") or message.get("reasoning")
    text = text if isinstance(text, str) else ""
    if parts:
        # A streamed answer's details hold only the signatures; its text came apart.
        if text and not any(p.text for p in parts):
            parts[0].text = text
        return list(parts)
    return [Reasoning(text)] if text else []
