"""Thinking across formats: sealed signatures go back only where they were made, the
effort table, and the OpenAI chat ``reasoning_details`` that carry signatures."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airelay.formats import anthropic_codec, gemini_codec, openai_codec, responses_codec
from airelay.formats.anthropic_thinking import close_tool_loop, unsigned_tool_loop
from airelay.formats.ir import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    Origin,
    Reasoning,
    ReasoningDelta,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
)
from airelay.formats.openai_reasoning import decode_details, encode_details, reasoning_parts
from airelay.formats.thinking import (
    SEALED_PREFIX,
    Sealed,
    effort_for,
    is_sealed,
    seal_event,
    seal_response,
    unseal_request,
    without_thinking,
)
from airelay.security.signature_seal import SignatureSealer

SEALER = SignatureSealer("operator secret")
ANTHROPIC_A = Origin("anthropic", "ch-a")
ANTHROPIC_B = Origin("anthropic", "ch-b")
GEMINI_A = Origin("gemini", "ch-a")

opaque = st.text(st.characters(codec="utf-8"), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["anthropic", "gemini", "responses", "openai"]),
    st.text(min_size=1, max_size=20),
    st.none() | opaque,
    st.none() | opaque,
    st.none() | opaque,
)
def test_a_sealed_token_opens_to_what_was_sealed(
    fmt: str, channel: str, signature: str | None, encrypted: str | None, redacted: str | None
) -> None:
    sealed = Sealed(Origin(fmt, channel), signature, encrypted, redacted)
    token = SEALER.seal(sealed)
    assert is_sealed(token) and token.startswith(SEALED_PREFIX)
    assert SEALER.open(token) == sealed
    # Valid base64 in either alphabet: the Google SDK holds a thoughtSignature as bytes.
    standard = base64.b64encode(base64.urlsafe_b64decode(token)).decode()
    assert SEALER.open(standard) == sealed
    # Fresh nonce each time: the same signature does not give the same token.
    assert SEALER.seal(sealed) != token


def test_a_token_hides_the_signature_and_cannot_be_forged() -> None:
    token = SEALER.seal(Sealed(ANTHROPIC_A, "EqQBsecret-signature"))
    assert "secret-signature" not in base64.urlsafe_b64decode(token).decode("latin-1")
    # Another gateway's secret, a flipped byte, a cut token: none opens.
    assert SignatureSealer("another secret").open(token) is None
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-1] ^= 1
    assert SEALER.open(base64.urlsafe_b64encode(bytes(raw)).decode()) is None
    assert SEALER.open(token[:40]) is None
    assert SEALER.open("not base64 at all: ü") is None
    assert SEALER.open(SEALED_PREFIX + "AAAA") is None


def _answer(*parts: Reasoning | Text) -> ChatResponse:
    return ChatResponse("r1", "m", 0, [Choice(0, Message("assistant", list(parts)), "stop")])


def _history(part: Reasoning) -> ChatRequest:
    return ChatRequest(
        "m",
        [
            Message("user", [Text("q")]),
            Message("assistant", [part, ToolCall("c1", "f", "{}")]),
            Message("tool", [ToolResult("c1", [Text("r")])]),
        ],
    )


def test_signatures_go_out_sealed_and_back_only_to_their_origin() -> None:
    answer = _answer(Reasoning("think", "sig-A"), Reasoning("", redacted="blob"), Text("hi"))
    seal_response(answer, ANTHROPIC_A, SEALER)
    thought, redacted, text = answer.choices[0].message.parts
    assert isinstance(thought, Reasoning) and isinstance(redacted, Reasoning)
    assert thought.text == "think" and is_sealed(thought.signature)
    assert thought.origin == ANTHROPIC_A and thought.encrypted is None
    assert redacted.redacted is None and is_sealed(redacted.signature)
    assert text == Text("hi")

    back = unseal_request(_history(thought), ANTHROPIC_A, SEALER)
    assert back.messages[1].parts[0] == Reasoning("think", "sig-A", None, ANTHROPIC_A)
    back = unseal_request(_history(redacted), ANTHROPIC_A, SEALER)
    assert back.messages[1].parts[0] == Reasoning("", None, None, ANTHROPIC_A, "blob")

    # Another channel of the same provider, another provider: the signature is dropped,
    # the text stays; a redacted block (no text) goes entirely.
    for target in (ANTHROPIC_B, GEMINI_A):
        other = unseal_request(_history(thought), target, SEALER)
        assert other.messages[1].parts[0] == Reasoning("think")
        gone = unseal_request(_history(redacted), target, SEALER)
        assert gone.messages[1].parts == [ToolCall("c1", "f", "{}")]


def test_raw_and_forged_signatures_never_reach_an_upstream_of_another_format() -> None:
    # A client's own signature (raw), a Responses encrypted_content, a token of another
    # gateway: all dropped on the way to a translated upstream.
    foreign = SignatureSealer("elsewhere").seal(Sealed(ANTHROPIC_A, "sig"))
    for part in (
        Reasoning("t", "raw-gemini-signature"),
        Reasoning("t", None, "gAAAAencrypted"),
        Reasoning("t", foreign),
    ):
        request = _history(part)
        out = unseal_request(request, ANTHROPIC_A, SEALER)
        assert out.messages[1].parts[0] == Reasoning("t")
        assert request.messages[1].parts[0] == part  # the client's request is not changed
    plain = _history(Reasoning("just text"))
    assert unseal_request(plain, ANTHROPIC_A, SEALER) is plain


def test_a_streamed_signature_is_sealed() -> None:
    event = seal_event(ReasoningDelta("", "sig-g", 0, "enc"), GEMINI_A, SEALER)
    assert isinstance(event, ReasoningDelta) and event.encrypted is None
    assert SEALER.open(event.signature or "") == Sealed(GEMINI_A, "sig-g", "enc")
    text = ReasoningDelta("more")
    assert seal_event(text, GEMINI_A, SEALER) is text
    assert seal_event(event, GEMINI_A, SEALER) is event  # sealed once only


@pytest.mark.parametrize(
    "client",
    [anthropic_codec, gemini_codec, openai_codec, responses_codec],
    ids=lambda m: m.__name__.rsplit(".", 1)[-1],
)
def test_every_client_format_returns_the_token_as_it_got_it(client: object) -> None:
    """Sealed in an answer for the client, read back from the client's next request,
    opened toward the origin: the upstream gets its own signature again."""
    answer = _answer(Reasoning("think", "sig-A"), Text("hi"))
    seal_response(answer, ANTHROPIC_A, SEALER)
    body = client.encode_response(answer)  # type: ignore[attr-defined]
    if client is gemini_codec:
        history = [
            {"role": "user", "parts": [{"text": "q"}]},
            body["candidates"][0]["content"],
        ]
        request = client.decode_request({"contents": history}, model="m")
    elif client is anthropic_codec:
        history = [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": body["content"]},
        ]
        request = client.decode_request({"model": "m", "max_tokens": 9, "messages": history})
    elif client is responses_codec:
        user = {"role": "user", "content": "q"}
        request = client.decode_request({"model": "m", "input": [user, *body["output"]]})
    else:
        message = body["choices"][0]["message"]
        history = [{"role": "user", "content": "q"}, message]
        request = client.decode_request({"model": "m", "messages": history})
    opened = unseal_request(request, ANTHROPIC_A, SEALER)
    reasoning = [p for m in opened.messages for p in m.parts if isinstance(p, Reasoning)]
    assert [(r.text, r.signature) for r in reasoning] == [("think", "sig-A")]


# ---- effort ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "anthropic", "gemini"),
    [("low", 1024, 1024), ("medium", 4096, 8192), ("high", 16384, 24576)],
)
def test_the_effort_table(effort: str, anthropic: int, gemini: int) -> None:
    request = ChatRequest("m", [Message("user", [Text("q")])], thinking=Thinking(effort=effort))  # type: ignore[arg-type]
    assert anthropic_codec.encode_request(request)["thinking"]["budget_tokens"] == anthropic
    config = gemini_codec.encode_request(request)["generationConfig"]["thinkingConfig"]
    assert config["thinkingBudget"] == gemini
    assert openai_codec.encode_request(request)["reasoning_effort"] == effort
    assert responses_codec.encode_request(request)["reasoning"]["effort"] == effort
    # ... and each budget reads back as its effort.
    assert effort_for(anthropic) == effort_for(gemini) == effort


def test_budgets_and_levels_read_as_efforts() -> None:
    assert [effort_for(b) for b in (1, 2047, 2048, 8192, 8193, 100000)] == [
        "low", "low", "medium", "medium", "high", "high",
    ]  # fmt: skip
    anthropic = {"model": "m", "max_tokens": 9000, "messages": [{"role": "user", "content": "q"}]}
    budget = {**anthropic, "thinking": {"type": "enabled", "budget_tokens": 5000}}
    request = anthropic_codec.decode_request(budget)
    assert openai_codec.encode_request(request)["reasoning_effort"] == "medium"
    gemini = {
        "contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}},
    }
    request = gemini_codec.decode_request(gemini, model="m")
    assert anthropic_codec.encode_request(request)["thinking"]["budget_tokens"] == 16384
    assert "reasoning_effort" not in openai_codec.encode_request(without_thinking(request))


# ---- OpenAI chat reasoning_details ------------------------------------------------------


def test_reasoning_details_carry_each_part_and_its_signature() -> None:
    parts = [Reasoning("a", "s1"), Text("x"), Reasoning("b"), Reasoning("", "s3")]
    details = encode_details(parts)  # type: ignore[arg-type]
    assert [(d["type"], d["text"], d.get("signature"), d["index"]) for d in details] == [
        ("reasoning.text", "a", "s1", 0),
        ("reasoning.text", "b", None, 1),
        ("reasoning.text", "", "s3", 2),
    ]
    # Read back: unsigned text joins the next signed entry (a stream's pieces).
    assert decode_details(details, "m") == [Reasoning("a", "s1"), Reasoning("b", "s3")]
    encrypted = [{"type": "reasoning.encrypted", "data": "blob"}, {"type": "reasoning.x"}]
    assert decode_details(encrypted, "m") == [Reasoning("", "blob")]
    with pytest.raises(ValueError, match="reasoning_details"):
        decode_details("nope", "messages[1]")
    # A streamed answer: the text in reasoning_content, the signature in the details.
    message = {"reasoning_content": "all", "reasoning_details": details[2:]}
    assert reasoning_parts(message, "m") == [Reasoning("all", "s3")]
    assert reasoning_parts({"reasoning_content": "t"}, "m") == [Reasoning("t")]


def test_an_openai_chat_stream_carries_the_signature_in_reasoning_details() -> None:
    request = ChatRequest("m", [Message("user", [Text("q")])], stream=True)
    encoder = openai_codec.stream_encoder(request)
    raw = encoder.encode(ReasoningDelta("hmm")) + encoder.encode(ReasoningDelta("", "tok"))
    assert b'"reasoning_content":"hmm"' in raw
    assert b'"reasoning_details":[{"type":"reasoning.text","text":"","signature":"tok"' in raw


# ---- Anthropic tool loops -------------------------------------------------------------


def test_an_unsigned_tool_loop_is_told_as_text_signed_ones_stay() -> None:
    call = {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}
    result = {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": [{"type": "text", "text": "r"}],
    }
    turns = [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "let me see"}, call]},
        {"role": "user", "content": [result, {"type": "text", "text": "go on"}]},
    ]
    assert unsigned_tool_loop(turns)
    closed = close_tool_loop(turns)
    assert closed[1]["content"][1] == {"type": "text", "text": '[called the tool f with {"a":1}]'}
    assert closed[2]["content"] == [
        {"type": "text", "text": "[the tool f gave a result: r]"},
        {"type": "text", "text": "go on"},
    ]
    assert not unsigned_tool_loop(closed) and turns[1]["content"][1] == call
    signed = [
        turns[0],
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "d"}, call]},
    ]
    assert not unsigned_tool_loop(signed)


def test_a_streamed_redacted_block_goes_sealed_and_comes_back_whole() -> None:
    decoder = anthropic_codec.stream_decoder()
    start = {"type": "content_block_start", "index": 0}
    events = decoder.feed(
        "content_block_start",
        {**start, "content_block": {"type": "redacted_thinking", "data": "EmwKblob"}},
    )
    assert events == [ReasoningDelta(redacted="EmwKblob")]
    (sealed,) = [seal_event(e, ANTHROPIC_A, SEALER) for e in events]
    assert isinstance(sealed, ReasoningDelta) and sealed.redacted is None
    # To an Anthropic client (from another format's channel, say) each signature is a block.
    request = ChatRequest("m", [Message("user", [Text("q")])], stream=True)
    encoder = anthropic_codec.stream_encoder(request)
    raw = encoder.encode(ReasoningDelta("t", "sig-1")) + encoder.encode(sealed)
    assert raw.count(b'"type":"content_block_start"') == 2
    token = sealed.signature or ""
    back = unseal_request(_history(Reasoning("", token)), ANTHROPIC_A, SEALER)
    assert back.messages[1].parts[0] == Reasoning("", None, None, ANTHROPIC_A, "EmwKblob")
    body = anthropic_codec.encode_request(back)
    assert body["messages"][1]["content"][0] == {"type": "redacted_thinking", "data": "EmwKblob"}


def test_a_result_of_plain_text_content_is_told_too() -> None:
    call = {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    result = {"type": "tool_result", "tool_use_id": "t1", "content": "plain", "is_error": True}
    turns = [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": [result]},
    ]
    assert close_tool_loop(turns)[2]["content"] == [
        {"type": "text", "text": "[the tool f gave an error: plain]"}
    ]
