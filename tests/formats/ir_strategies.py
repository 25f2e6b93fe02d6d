"""Hypothesis strategies for the canonical chat IR, shared by the codec property tests.

Every wire format keeps a different subset of the IR, so the strategies take flags for the
features a format can carry (``top_k``, ``n``, signatures on reasoning, images in tool
results...). Generated values are *normalised*: the shapes a decoder produces, so that
``decode(encode(x)) == x`` can be asserted for a codec that keeps every enabled feature:

- a message's parts come in the order a decoder yields them: assistant = [Reasoning?]
  [Text?] [ToolCall*] (at least one Text or ToolCall), user = Text/Image parts with no two
  Text parts in a row, system = one Text;
- a ``tool`` message holds exactly one ``ToolResult`` answering a call of the assistant
  message before it, in call order;
- texts hold at least one non-space character (Anthropic rejects blank text blocks);
- tool-call ``arguments`` are compact JSON (``canonical_arguments``); compare through
  ``canonical`` when a format may re-serialise them;
- ``Usage`` is consistent (cached <= prompt, reasoning <= completion).

Usage::

    from formats.ir_strategies import chat_requests, chat_responses, canonical

    @given(chat_requests(top_k=True, n=False))
    def test_round_trip(request): ...
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from typing import Any, Literal, TypeVar, cast

from hypothesis import strategies as st

from airelay.formats.ir import (
    Audio,
    ChatRequest,
    ChatResponse,
    Choice,
    FinishReason,
    Image,
    Message,
    Part,
    Reasoning,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from airelay.formats.usage import Usage

__all__ = [
    "assistant_messages",
    "canonical",
    "canonical_arguments",
    "chat_requests",
    "chat_responses",
    "conversations",
    "images",
    "json_objects",
    "names",
    "signatures",
    "texts",
    "thinkings",
    "tool_calls",
    "tools",
    "usages",
]

T = TypeVar("T")

# Printable text with some non-ASCII and JSON-hostile characters (quotes, backslashes,
# newlines, emoji) but no control characters a format might strip.
_ALPHABET = st.characters(
    codec="utf-8", categories=("L", "N", "P", "S", "Zs"), include_characters='"\\\n\t'
)


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text with at least one non-space character."""
    return st.text(_ALPHABET, min_size=1, max_size=max_size).filter(lambda s: s.strip() != "")


def names() -> st.SearchStrategy[str]:
    """Function names valid in every format: ``^[a-zA-Z_][a-zA-Z0-9_]{0,30}$``."""
    return st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,30}\Z")


def ids(prefix: str) -> st.SearchStrategy[str]:
    return st.from_regex(r"\A[a-zA-Z0-9]{6,24}\Z").map(lambda s: prefix + s)


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31)
    | st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: round(f, 3))
    | texts(20)
)


def json_objects(max_leaves: int = 8) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object (string keys) of scalars, lists and nested objects."""
    values = st.recursive(
        _scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names(), inner, max_size=3),
        max_leaves=max_leaves,
    )
    return st.dictionaries(names(), values, max_size=4)


def canonical_arguments(obj: Any) -> str:
    """The JSON text of tool-call arguments as the strategies generate it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def canonical(value: T) -> T:
    """A deep copy with every ``ToolCall.arguments`` re-serialised by ``canonical_arguments``
    (formats that carry arguments as objects re-serialise them in their own way)."""
    value = copy.deepcopy(value)

    def fix(parts: list[Part]) -> None:
        for part in parts:
            if isinstance(part, ToolCall) and part.arguments:
                with contextlib.suppress(ValueError):
                    part.arguments = canonical_arguments(json.loads(part.arguments))

    if isinstance(value, ChatRequest):
        for message in value.messages:
            fix(message.parts)
    elif isinstance(value, ChatResponse):
        for choice in value.choices:
            fix(choice.message.parts)
    elif isinstance(value, Message):
        fix(value.parts)
    return value


def tool_calls(id_prefix: str = "call_") -> st.SearchStrategy[ToolCall]:
    return st.builds(
        ToolCall, id=ids(id_prefix), name=names(), arguments=json_objects().map(canonical_arguments)
    )


def images(*, urls: bool = True, data: bool = True) -> st.SearchStrategy[Image]:
    """``Image(url=https...)`` and/or ``Image(data=<base64>, media_type=image/png|jpeg)``."""
    options: list[st.SearchStrategy[Image]] = []
    if urls:
        options.append(
            st.from_regex(r"\A[a-z]{1,10}/[a-z0-9]{1,10}\.(png|jpg)\Z").map(
                lambda path: Image(url="https://example.com/" + path)
            )
        )
    if data:
        options.append(
            st.builds(
                lambda b, mt: Image(data=b, media_type=mt),
                st.binary(min_size=1, max_size=24).map(_b64),
                st.sampled_from(["image/png", "image/jpeg"]),
            )
        )
    return st.one_of(options)


def signatures() -> st.SearchStrategy[str]:
    """Reasoning signatures: standard base64 of 6..48 bytes (valid for every format)."""
    return st.binary(min_size=6, max_size=48).map(_b64)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _no_adjacent_texts(parts: list[Text | Image]) -> list[Text | Image]:
    out: list[Text | Image] = []
    for part in parts:
        if isinstance(part, Text) and out and isinstance(out[-1], Text):
            continue
        out.append(part)
    return out


def user_messages(*, images_: bool = True, audio: bool = False) -> st.SearchStrategy[Message]:
    kinds: list[st.SearchStrategy[Any]] = [st.builds(Text, texts())]
    if images_:
        kinds.append(images())
    if audio:
        kinds.append(
            st.builds(
                Audio,
                data=st.binary(min_size=1, max_size=16).map(_b64),
                format=st.sampled_from(["wav", "mp3"]),
            )
        )
    single = st.builds(lambda t: Message("user", [Text(t)]), texts())
    if len(kinds) == 1:
        return single
    mixed = st.lists(st.one_of(kinds), min_size=1, max_size=4).map(
        lambda ps: Message("user", cast(list[Part], _no_adjacent_texts(ps)))
    )
    return single | mixed


def assistant_messages(
    *,
    reasoning: bool = False,
    signature: bool = False,
    calls: bool = True,
    max_calls: int = 3,
    id_prefix: str = "call_",
) -> st.SearchStrategy[Message]:
    """Assistant turn: [Reasoning?] [Text?] [ToolCall*], never empty of Text and calls.
    Call names are distinct within a message (Gemini matches results by name)."""

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        parts: list[Part] = []
        if reasoning and draw(st.booleans()):
            # Valid base64 (Gemini carries signatures as bytes).
            sig = draw(st.none() | signatures()) if signature else None
            parts.append(Reasoning(draw(texts()), sig))
        n_calls = draw(st.integers(0, max_calls)) if calls else 0
        if n_calls == 0 or draw(st.booleans()):
            parts.append(Text(draw(texts())))
        if n_calls:
            fn_names = draw(st.lists(names(), min_size=n_calls, max_size=n_calls, unique=True))
            call_ids = draw(
                st.lists(ids(id_prefix), min_size=n_calls, max_size=n_calls, unique=True)
            )
            for call_id, name in zip(call_ids, fn_names, strict=True):
                args = canonical_arguments(draw(json_objects()))
                parts.append(ToolCall(call_id, name, args))
        return Message("assistant", parts)

    return build()


def conversations(
    *,
    system: bool = True,
    images_: bool = True,
    audio: bool = False,
    tools_: bool = True,
    reasoning: bool = False,
    signature: bool = False,
    result_names: bool = False,
    result_images: bool = False,
    result_errors: bool = False,
    max_turns: int = 3,
) -> st.SearchStrategy[list[Message]]:
    """[system?] user (assistant (tool results | user))* ending with user or tool results.

    ``result_names`` sets ``ToolResult.name`` to the call's name (Gemini needs it; formats
    that cannot carry it decode None); ``result_errors`` draws ``is_error``.
    """

    @st.composite
    def build(draw: st.DrawFn) -> list[Message]:
        messages: list[Message] = []
        if system and draw(st.booleans()):
            messages.append(Message("system", [Text(draw(texts()))]))
        messages.append(draw(user_messages(images_=images_, audio=audio)))
        for _ in range(draw(st.integers(0, max_turns - 1))):
            turn = draw(assistant_messages(reasoning=reasoning, signature=signature, calls=tools_))
            messages.append(turn)
            calls = [p for p in turn.parts if isinstance(p, ToolCall)]
            if not calls:
                messages.append(draw(user_messages(images_=images_, audio=audio)))
                continue
            for call in calls:
                content: list[Text | Image] = [Text(draw(texts()))]
                if result_images and draw(st.booleans()):
                    content.append(draw(images()))
                result = ToolResult(
                    call_id=call.id,
                    content=content,
                    name=call.name if result_names else None,
                    is_error=draw(st.booleans()) if result_errors else False,
                )
                messages.append(Message("tool", [result]))
        return messages

    return build()


def tools() -> st.SearchStrategy[list[Tool]]:
    schema = st.fixed_dictionaries(
        {
            "type": st.just("object"),
            "properties": st.dictionaries(names(), st.just({"type": "string"}), max_size=3),
        }
    )
    tool = st.builds(Tool, name=names(), description=st.none() | texts(), parameters=schema)
    return st.lists(tool, min_size=1, max_size=3, unique_by=lambda t: t.name)


def thinkings(
    *, budget: bool = True, effort: bool = True, include: bool = False
) -> st.SearchStrategy[Thinking]:
    budgets = st.integers(1024, 32000) if budget else st.none()
    efforts: st.SearchStrategy[Any] = (
        st.sampled_from(["low", "medium", "high"]) if effort else st.none()
    )
    return st.builds(
        Thinking,
        budget_tokens=budgets,
        effort=efforts,
        include=st.booleans() if include else st.just(True),
    ).filter(lambda t: t.budget_tokens is not None or t.effort is not None)


def _tool_choices(tool_list: list[Tool], parallel: bool) -> st.SearchStrategy[ToolChoice]:
    modes: st.SearchStrategy[Any] = st.sampled_from(["auto", "none", "required", "tool"])
    par: st.SearchStrategy[bool | None] = st.none() | st.booleans() if parallel else st.none()

    def make(
        mode: Literal["auto", "none", "required", "tool"], p: bool | None, i: int
    ) -> ToolChoice:
        name = tool_list[i % len(tool_list)].name if mode == "tool" else None
        return ToolChoice(mode=mode, name=name, parallel=p)

    return st.builds(make, modes, par, st.integers(0, 10))


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi).map(lambda f: round(f, 2))


def chat_requests(
    *,
    system: bool = True,
    images_: bool = True,
    audio: bool = False,
    tools_: bool = True,
    reasoning: bool = False,
    signature: bool = False,
    result_names: bool = False,
    result_images: bool = False,
    result_errors: bool = False,
    top_k: bool = False,
    n: bool = True,
    seed: bool = True,
    user: bool = True,
    parallel: bool = True,
    thinking: st.SearchStrategy[Thinking | None] | None = None,
    response_format: bool = True,
    stream: bool = True,
) -> st.SearchStrategy[ChatRequest]:
    """A whole request. Flags switch features off for formats that cannot carry them;
    ``thinking`` defaults to none-or-effort (pass ``thinkings(...)`` to choose).
    ``include_usage`` is drawn only with ``stream`` (and False otherwise)."""
    thinking_strategy = (
        thinking if thinking is not None else st.none() | thinkings(budget=False, effort=True)
    )

    @st.composite
    def build(draw: st.DrawFn) -> ChatRequest:
        messages = draw(
            conversations(
                system=system,
                images_=images_,
                audio=audio,
                tools_=tools_,
                reasoning=reasoning,
                signature=signature,
                result_names=result_names,
                result_images=result_images,
                result_errors=result_errors,
            )
        )

        def maybe(strategy: st.SearchStrategy[Any]) -> Any:
            return draw(st.none() | strategy)

        tool_list = draw(st.none() | tools()) if tools_ else None
        choice = draw(st.none() | _tool_choices(tool_list, parallel)) if tool_list else None
        is_stream = draw(st.booleans()) if stream else False
        fmt: dict[str, Any] | None = None
        if response_format:
            fmt = draw(
                st.none()
                | st.just({"type": "json_object"})
                | st.builds(
                    lambda nm, props: {
                        "type": "json_schema",
                        "json_schema": {
                            "name": nm,
                            "schema": {"type": "object", "properties": props},
                            "strict": True,
                        },
                    },
                    names(),
                    st.dictionaries(names(), st.just({"type": "string"}), max_size=3),
                )
            )
        return ChatRequest(
            model=draw(st.from_regex(r"\A[a-z][a-z0-9.-]{1,20}\Z")),
            messages=messages,
            max_tokens=maybe(st.integers(1, 100_000)),
            temperature=maybe(_floats(0, 2)),
            top_p=maybe(_floats(0, 1)),
            top_k=maybe(st.integers(1, 100)) if top_k else None,
            stop=maybe(st.lists(texts(10), min_size=1, max_size=4)),
            n=maybe(st.integers(1, 4)) if n else None,
            seed=maybe(st.integers(0, 2**31 - 1)) if seed else None,
            tools=tool_list,
            tool_choice=choice,
            thinking=draw(thinking_strategy),
            response_format=fmt,
            user=maybe(st.from_regex(r"\A[a-z0-9_-]{1,20}\Z")) if user else None,
            stream=is_stream,
            include_usage=draw(st.booleans()) if is_stream else False,
        )

    return build()


def usages(
    *, cached: bool = True, reasoning: bool = True, cache_write: bool = False
) -> st.SearchStrategy[Usage]:
    @st.composite
    def build(draw: st.DrawFn) -> Usage:
        prompt = draw(st.integers(0, 100_000))
        completion = draw(st.integers(0, 100_000))
        read = draw(st.integers(0, prompt)) if cached else 0
        write = draw(st.integers(0, prompt - read)) if cache_write else 0
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=read,
            reasoning_tokens=draw(st.integers(0, completion)) if reasoning else 0,
            cache_write_tokens=write,
        )

    return build()


def chat_responses(
    *,
    max_choices: int = 3,
    reasoning: bool = True,
    signature: bool = False,
    calls: bool = True,
    finish_reasons: tuple[FinishReason, ...] = ("stop", "length", "tool_calls", "content_filter"),
    usage: bool = True,
    cached: bool = True,
    reasoning_tokens: bool = True,
    cache_write: bool = False,
    id_prefix: str = "chatcmpl-",
    call_id_prefix: str = "call_",
) -> st.SearchStrategy[ChatResponse]:
    """A response with 1..max_choices choices (index 0, 1, ...). ``finish_reason`` is
    "tool_calls" exactly when the message has tool calls (as decoders of formats without a
    tool-call stop reason infer it), else drawn from the others in ``finish_reasons``."""
    others = [r for r in finish_reasons if r != "tool_calls"] or ["stop"]

    @st.composite
    def build(draw: st.DrawFn) -> ChatResponse:
        choices = []
        for index in range(draw(st.integers(1, max_choices))):
            message = draw(
                assistant_messages(
                    reasoning=reasoning, signature=signature, calls=calls, id_prefix=call_id_prefix
                )
            )
            has_calls = any(isinstance(p, ToolCall) for p in message.parts)
            reason: FinishReason = "tool_calls" if has_calls else draw(st.sampled_from(others))
            choices.append(Choice(index=index, message=message, finish_reason=reason))
        return ChatResponse(
            id=draw(ids(id_prefix)),
            model=draw(st.from_regex(r"\A[a-z][a-z0-9.-]{1,20}\Z")),
            created=draw(st.integers(1_600_000_000, 2_000_000_000)),
            choices=choices,
            usage=draw(usages(cached=cached, reasoning=reasoning_tokens, cache_write=cache_write))
            if usage
            else None,
        )

    return build()
