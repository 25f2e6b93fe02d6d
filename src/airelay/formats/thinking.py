"""Thinking across formats: where a signature may go, and how much thinking is asked for.

**Signatures.** A thinking signature (Anthropic ``signature``, an Anthropic
``redacted_thinking`` block's ``data``, Gemini ``thoughtSignature``, a Responses reasoning
item's ``encrypted_content``) means something only to the upstream that made it: another
provider refuses it (a 400) or, worse, a channel of the same provider under another account
does. So an answer translated for a client of another format carries its signatures
*sealed*: one opaque token per reasoning part holding ``{origin, signature}``, authenticated
and encrypted with a key only the gateway holds (the ``Sealer``; the crypto lives outside
this pure package). The client returns the token as it got it; on the way to an upstream the
token opens only toward its origin (same wire format and channel). Toward any other upstream
the signature is dropped and the thinking text stays, for the target codec's own rules to
keep as text or leave out. A raw (unsealed) signature in a translated request came from the
client's own format, never from the target's: it is dropped too. Same-format pass-through
never comes here: its bytes go on untouched.

A token is URL-safe base64 of ``SEAL_MAGIC + nonce + ciphertext`` and so valid base64 for
every client (the Google SDK holds ``thoughtSignature`` as bytes and re-encodes them; its
alphabet is accepted either way), recognisable by ``SEALED_PREFIX``.

**Effort.** The formats ask for thinking differently; the IR's ``Thinking`` holds an effort
level and/or a token budget, and each codec writes what its format takes:

============  =========================  ===========================  ==========================
effort        OpenAI chat / Responses    Anthropic ``budget_tokens``  Gemini ``thinkingBudget``
============  =========================  ===========================  ==========================
``low``       ``"low"``                  1024                         1024
``medium``    ``"medium"``               4096                         8192
``high``      ``"high"``                 16384                        24576
============  =========================  ===========================  ==========================

A budget read from a request becomes an effort by ``effort_for`` (under 2048: low, up to
8192: medium, else high: every budget of the table reads back as its own effort); Gemini's
``thinkingLevel`` reads as the effort of the same name (``minimal`` as low). A model the
catalog marks as non-reasoning gets no thinking request at all (``without_thinking``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from airelay.formats.ir import (
    ChatRequest,
    ChatResponse,
    Message,
    Origin,
    Part,
    Reasoning,
    ReasoningDelta,
    StreamEvent,
)

Effort = Literal["low", "medium", "high"]

#: The bytes every sealed token starts with, before base64.
SEAL_MAGIC: Final = b"airelay1:"
#: ... and what the token's text starts with (``SEAL_MAGIC`` is 9 bytes: whole base64 groups).
SEALED_PREFIX: Final = "YWlyZWxheTE6"

#: The documented mapping table (module docstring), by target.
ANTHROPIC_BUDGETS: Final[dict[str, int]] = {"low": 1024, "medium": 4096, "high": 16384}
GEMINI_BUDGETS: Final[dict[str, int]] = {"low": 1024, "medium": 8192, "high": 24576}
#: Gemini ``thinkingLevel`` values read as efforts.
GEMINI_LEVELS: Final[dict[str, Effort]] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
}


def effort_for(budget: int) -> Effort:
    """The effort level a token budget stands for (the table's boundaries)."""
    return "low" if budget < 2048 else "medium" if budget <= 8192 else "high"


def anthropic_budget(effort: str | None) -> int:
    return ANTHROPIC_BUDGETS[effort or "medium"]


def gemini_budget(effort: str) -> int:
    return GEMINI_BUDGETS[effort]


def without_thinking(request: ChatRequest) -> ChatRequest:
    """``request`` without its thinking request (for a model that does not reason)."""
    if request.thinking is None:
        return request
    return dataclasses.replace(request, thinking=None)


# ---- sealing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sealed:
    """What a token holds: where the signature was made and the signature itself."""

    origin: Origin
    signature: str | None = None
    encrypted: str | None = None
    redacted: str | None = None


class Sealer(Protocol):
    """Seals and opens tokens (authenticated encryption under the gateway's secret)."""

    def seal(self, sealed: Sealed) -> str: ...

    def open(self, token: str) -> Sealed | None:
        """The token's content, or None when it is not one this gateway sealed."""
        ...


def is_sealed(value: str | None) -> bool:
    return value is not None and value.startswith(SEALED_PREFIX)


def _has_secret(part: Reasoning) -> bool:
    return bool(part.signature or part.encrypted or part.redacted)


def _sealed_part(part: Reasoning, origin: Origin, sealer: Sealer) -> Reasoning:
    if not _has_secret(part) or is_sealed(part.signature):
        return part
    token = sealer.seal(Sealed(origin, part.signature, part.encrypted, part.redacted))
    return Reasoning(part.text, token, None, origin, None)


def seal_response(response: ChatResponse, origin: Origin, sealer: Sealer) -> None:
    """Seals, in place, the signatures of an upstream answer from ``origin`` that goes to a
    client of another format."""
    for choice in response.choices:
        message = choice.message
        message.parts = [
            _sealed_part(p, origin, sealer) if isinstance(p, Reasoning) else p
            for p in message.parts
        ]


def seal_event(event: StreamEvent, origin: Origin, sealer: Sealer) -> StreamEvent:
    """A stream event of an upstream at ``origin`` as it goes to a client of another
    format: a reasoning delta's signature (or encrypted content) sealed."""
    if not isinstance(event, ReasoningDelta) or not (
        event.signature or event.encrypted or event.redacted
    ):
        return event
    if is_sealed(event.signature):
        return event
    token = sealer.seal(Sealed(origin, event.signature, event.encrypted, event.redacted))
    return dataclasses.replace(event, signature=token, encrypted=None, redacted=None)


def _opened_part(part: Reasoning, target: Origin, sealer: Sealer) -> Reasoning | None:
    """The part as it may go to ``target``: a token of that origin opened, any other
    signature dropped (the text stays; a redacted block, all secret, goes entirely)."""
    if not _has_secret(part):
        return part
    for value in (part.signature, part.encrypted):
        if is_sealed(value):
            sealed = sealer.open(value or "")
            if sealed is not None and sealed.origin == target:
                return Reasoning(
                    part.text, sealed.signature, sealed.encrypted, target, sealed.redacted
                )
            break
    if not part.text:
        return None
    return Reasoning(part.text)


def _opened(parts: list[Part], target: Origin, sealer: Sealer) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if isinstance(part, Reasoning):
            opened = _opened_part(part, target, sealer)
            if opened is not None:
                out.append(opened)
        else:
            out.append(part)
    return out


def unseal_request(request: ChatRequest, target: Origin, sealer: Sealer) -> ChatRequest:
    """``request`` (decoded from a client of a format other than ``target.format``) as it
    may go to the upstream ``target``: its own tokens opened, every other signature
    dropped. The request is not changed; a copy is returned when anything differs."""
    if not any(
        isinstance(part, Reasoning) and _has_secret(part)
        for message in request.messages
        for part in message.parts
    ):
        return request
    messages = [Message(m.role, _opened(m.parts, target, sealer)) for m in request.messages]
    return dataclasses.replace(request, messages=messages)
