"""The canonical chat IR every wire format decodes into and encodes from.

Pure data: no I/O, no format-specific names. A codec per format maps its requests,
responses and stream events to these types and back (``openai_codec``, ``anthropic_codec``,
``gemini_codec``); N formats need 2N mappings, not N^2 converters.

Conventions:
- System prompts are ``Message(role="system")`` entries at the front of ``messages``.
- Tool calls live in assistant messages as ``ToolCall`` parts; their results come back as
  ``ToolResult`` parts in a ``tool`` message (one per result; codecs whose format groups
  results in one user turn split or merge them).
- Tool-call ``arguments`` is the JSON text of the arguments object, as OpenAI carries it.
- ``Usage`` is ``airelay.formats.usage.Usage``: prompt counts include cached tokens,
  completion counts include reasoning tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from airelay.formats.usage import Usage

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    """An image by URL (``https:`` or ``data:``) or inline base64 ``data``."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None


@dataclass(slots=True)
class Audio:
    data: str  # base64
    format: str  # "wav", "mp3"


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text of an object


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Text | Image]
    name: str | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a thinking signature was made: the upstream's wire format and the channel.
    A signature means something only to the upstream that made it (``formats.thinking``)."""

    format: str
    channel: str


@dataclass(slots=True)
class Reasoning:
    """Thinking text; ``signature`` is the upstream's proof that must travel back with it
    (Anthropic's ``signature``, Gemini's ``thoughtSignature``). ``encrypted`` is an OpenAI
    Responses reasoning item's ``encrypted_content``: opaque, it means something only to a
    Responses upstream (the other codecs leave it out). ``origin``: the upstream that made
    them, when known; toward a client of another format both travel sealed
    (``formats.thinking``). ``redacted``: an Anthropic ``redacted_thinking`` block's
    ``data`` (no text)."""

    text: str
    signature: str | None = None
    encrypted: str | None = None
    origin: Origin | None = None
    redacted: str | None = None


Part = Text | Image | Audio | ToolCall | ToolResult | Reasoning


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class Tool:
    """A function the model may call. A Responses ``custom`` tool (free-text input, with an
    optional grammar ``format``) is ``custom=True``: to every other format it is a function
    of one string argument ``input`` (``parameters`` says so), and its calls' ``arguments``
    are ``{"input": <text>}``."""

    name: str
    description: str | None
    parameters: dict[str, Any]  # JSON schema of the arguments object
    custom: bool = False
    format: dict[str, Any] | None = None  # a custom tool's input format (grammar), if any


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None  # with mode "tool"
    parallel: bool | None = None  # False: at most one call


@dataclass(slots=True)
class Thinking:
    """A request for reasoning: a token budget and/or an effort level."""

    budget_tokens: int | None = None
    effort: Literal["low", "medium", "high"] | None = None
    include: bool = True  # return the reasoning text when the upstream can


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] | None = None
    n: int | None = None
    seed: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    thinking: Thinking | None = None
    # {"type": "json_object"} or {"type": "json_schema", "json_schema": {...}} (OpenAI's).
    response_format: dict[str, Any] | None = None
    user: str | None = None
    stream: bool = False
    include_usage: bool = False


@dataclass(slots=True)
class Choice:
    index: int
    message: Message  # role "assistant"
    finish_reason: FinishReason | None


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    created: int
    choices: list[Choice]
    usage: Usage | None = None


# ---- stream events ----------------------------------------------------------------------


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str
    created: int
    usage: Usage | None = None  # some formats report input tokens up front


@dataclass(slots=True)
class TextDelta:
    text: str
    choice: int = 0


@dataclass(slots=True)
class ReasoningDelta:
    text: str = ""
    signature: str | None = None
    choice: int = 0
    encrypted: str | None = None  # a Responses reasoning item's encrypted_content
    redacted: str | None = None  # an Anthropic redacted_thinking block's data (a part alone)


@dataclass(slots=True)
class ToolCallStart:
    """A new tool call; ``call`` numbers the calls of a choice from 0."""

    call: int
    id: str
    name: str
    choice: int = 0


@dataclass(slots=True)
class ToolCallDelta:
    call: int
    arguments: str  # a fragment of the arguments' JSON text
    choice: int = 0


@dataclass(slots=True)
class Finish:
    reason: FinishReason
    choice: int = 0


@dataclass(slots=True)
class UsageReport:
    usage: Usage


@dataclass(slots=True)
class StreamError:
    message: str
    type: str = "upstream_error"


StreamEvent = (
    StreamStart
    | TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | Finish
    | UsageReport
    | StreamError
)


@dataclass(slots=True)
class Assembler:
    """Re-assembles a stream of events into the response it stands for (tests use it to
    check that a translated stream says what the translated response says)."""

    response: ChatResponse = field(
        default_factory=lambda: ChatResponse(id="", model="", created=0, choices=[])
    )

    def feed(self, event: StreamEvent) -> None:
        if isinstance(event, StreamStart):
            self.response.id, self.response.model = event.id, event.model
            self.response.created = event.created
            if event.usage is not None:
                self.response.usage = event.usage
        elif isinstance(event, UsageReport):
            self.response.usage = event.usage
        elif isinstance(event, TextDelta):
            self._append_text(self._choice(event.choice), Text, event.text)
        elif isinstance(event, ReasoningDelta):
            parts = self._choice(event.choice).message.parts
            if event.redacted:
                parts.append(Reasoning("", redacted=event.redacted))
            elif parts and isinstance(parts[-1], Reasoning) and not parts[-1].redacted:
                parts[-1].text += event.text
                if event.signature:
                    parts[-1].signature = event.signature
                if event.encrypted:
                    parts[-1].encrypted = event.encrypted
            else:
                parts.append(Reasoning(event.text, event.signature, event.encrypted))
        elif isinstance(event, ToolCallStart):
            self._choice(event.choice).message.parts.append(ToolCall(event.id, event.name, ""))
        elif isinstance(event, ToolCallDelta):
            calls = [p for p in self._choice(event.choice).message.parts if isinstance(p, ToolCall)]
            calls[event.call].arguments += event.arguments
        elif isinstance(event, Finish):
            self._choice(event.choice).finish_reason = event.reason

    def _choice(self, index: int) -> Choice:
        for choice in self.response.choices:
            if choice.index == index:
                return choice
        choice = Choice(index=index, message=Message("assistant", []), finish_reason=None)
        self.response.choices.append(choice)
        self.response.choices.sort(key=lambda c: c.index)
        return choice

    @staticmethod
    def _append_text(choice: Choice, kind: type[Text], text: str) -> None:
        parts = choice.message.parts
        if parts and isinstance(parts[-1], kind):
            parts[-1].text += text
        else:
            parts.append(kind(text))
