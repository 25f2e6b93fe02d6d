"""Cache reads and writes, end to end: each upstream shape reports them its own way
(Anthropic ``cache_read_input_tokens`` and ``cache_creation`` split by TTL, OpenAI
``cached_tokens``, Gemini ``cachedContentTokenCount``, DeepSeek ``prompt_cache_hit_tokens``);
every client, through its official SDK, whole and streamed, gets them back in its own usage
fields; the usage row keeps reads and writes (and the 1-hour part) apart, and the cost
prices each at its own price."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest
from fakes.scripted import Raw, ScriptedServer
from google import genai
from google.genai import types
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_rows

from airelay.formats.usage import Usage
from airelay.money import usd_to_units
from airelay.pricing import Price, token_cost

PRICING = {"input": 3, "cached_input": 0.3, "output": 15}
PRICE = Price.from_catalog({k: usd_to_units(v) for k, v in PRICING.items()}, None)
TEXT = "Cached answer."


def _sse(data: object, name: str | None = None, end: bytes = b"\n\n") -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + orjson.dumps(data) + end


# ---- each upstream's answer, whole and streamed, with its cache counts ------------------

ANTHROPIC_USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 4000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "output_tokens": 25,
}


def anthropic_answer(model: str, stream: bool) -> Raw:
    message = {
        "id": "msg_cache",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }
    if not stream:
        return Raw.json(orjson.dumps(message))
    start = {**message, "content": [], "stop_reason": None, "usage": {**ANTHROPIC_USAGE}}
    start["usage"]["output_tokens"] = 1
    return Raw.sse(
        _sse({"type": "message_start", "message": start}, "message_start"),
        _sse(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
            "content_block_start",
        ),
        _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": TEXT},
            },
            "content_block_delta",
        ),
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 25},
            },
            "message_delta",
        ),
        _sse({"type": "message_stop"}, "message_stop"),
    )


def _openai_answer(model: str, stream: bool, usage: dict[str, Any]) -> Raw:
    if not stream:
        body = {
            "id": "chatcmpl-cache",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": TEXT},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return Raw.json(orjson.dumps(body))
    head = {"id": "chatcmpl-cache", "object": "chat.completion.chunk", "created": 1, "model": model}
    return Raw.sse(
        _sse({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": TEXT}}]}),
        _sse({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        _sse({**head, "choices": [], "usage": usage}),
        b"data: [DONE]\n\n",
    )


def openai_answer(model: str, stream: bool) -> Raw:
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 30,
        "total_tokens": 2030,
        "prompt_tokens_details": {"cached_tokens": 1500},
    }
    return _openai_answer(model, stream, usage)


def deepseek_answer(model: str, stream: bool) -> Raw:
    usage = {
        "prompt_tokens": 1500,
        "completion_tokens": 30,
        "total_tokens": 1530,
        "prompt_cache_hit_tokens": 1200,
        "prompt_cache_miss_tokens": 300,
    }
    return _openai_answer(model, stream, usage)


def gemini_answer(model: str, stream: bool) -> Raw:
    usage = {
        "promptTokenCount": 2000,
        "cachedContentTokenCount": 1500,
        "candidatesTokenCount": 30,
        "totalTokenCount": 2030,
    }
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": TEXT}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "r-cache",
    }
    if not stream:
        return Raw.json(orjson.dumps(body))
    return Raw.sse(_sse(body, end=b"\r\n\r\n"))


@dataclass(frozen=True)
class Upstream:
    channel_type: str
    answer: Any
    usage: Usage  # what the gateway must read from it


UPSTREAMS = {
    "anthropic": Upstream(
        "anthropic",
        anthropic_answer,
        Usage(7050, 25, cached_tokens=4000, cache_write_tokens=3000, cache_write_1h_tokens=2000),
    ),
    "openai": Upstream("openai", openai_answer, Usage(2000, 30, cached_tokens=1500)),
    "deepseek": Upstream("deepseek", deepseek_answer, Usage(1500, 30, cached_tokens=1200)),
    "gemini": Upstream("gemini", gemini_answer, Usage(2000, 30, cached_tokens=1500)),
}


# ---- each client's view of the usage, through its SDK ----------------------------------


@dataclass
class Seen:
    text: str
    prompt: int
    completion: int
    cached: int
    written: int | None  # None: the format has no field for it
    hour: int | None  # None: not told


def openai_client(gateway: Gateway, key: str, model: str, stream: bool) -> Seen:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    messages: Any = [{"role": "user", "content": "hi"}]
    if stream:
        chunks = list(
            sdk.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = chunks[-1].usage
    else:
        reply = sdk.chat.completions.create(model=model, messages=messages)
        text, usage = reply.choices[0].message.content or "", reply.usage
    assert usage is not None
    details = usage.prompt_tokens_details
    extra = usage.model_extra or {}
    cached = (details.cached_tokens if details else 0) or extra.get("prompt_cache_hit_tokens", 0)
    # A field of recent SDKs (relays of Anthropic models report it); older ones keep it extra.
    written = getattr(details, "cache_write_tokens", None) or (
        (details.model_extra or {}).get("cache_write_tokens", 0) if details else 0
    )
    return Seen(text, usage.prompt_tokens, usage.completion_tokens, cached or 0, written, None)


def anthropic_client(gateway: Gateway, key: str, model: str, stream: bool) -> Seen:
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    messages: Any = [{"role": "user", "content": "hi"}]
    if stream:
        with sdk.messages.stream(model=model, max_tokens=64, messages=messages) as events:
            message = events.get_final_message()
    else:
        message = sdk.messages.create(model=model, max_tokens=64, messages=messages)
    usage = message.usage
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    hour = usage.cache_creation.ephemeral_1h_input_tokens if usage.cache_creation else None
    text = "".join(b.text for b in message.content if b.type == "text")
    return Seen(text, usage.input_tokens + read + written, usage.output_tokens, read, written, hour)


def gemini_client(gateway: Gateway, key: str, model: str, stream: bool) -> Seen:
    sdk = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=gateway.url, timeout=30_000)
    )
    if stream:
        chunks = list(sdk.models.generate_content_stream(model=model, contents="hi"))
        text = "".join(c.text or "" for c in chunks)
        usage = chunks[-1].usage_metadata
    else:
        reply = sdk.models.generate_content(model=model, contents="hi")
        text, usage = reply.text or "", reply.usage_metadata
    assert usage is not None
    return Seen(
        text,
        usage.prompt_token_count or 0,
        (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0),
        usage.cached_content_token_count or 0,
        None,
        None,
    )


CLIENTS = {"openai": openai_client, "anthropic": anthropic_client, "gemini": gemini_client}
CASES = [(c, u, s) for c in CLIENTS for u in UPSTREAMS for s in (False, True)]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.mark.parametrize(
    ("client", "channel", "stream"),
    CASES,
    ids=[f"{c}-from-{u}-{'stream' if s else 'whole'}" for c, u, s in CASES],
)
def test_cache_counts_reach_the_client_and_the_books(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    client: str,
    channel: str,
    stream: bool,
) -> None:
    upstream = UPSTREAMS[channel]
    model = unique_model(f"cache-{channel}")
    base_url = server.origin + ("/v1" if upstream.channel_type in ("openai", "deepseek") else "")
    admin.create_channel(
        type=upstream.channel_type,
        base_url=base_url,
        api_keys=["sk-cache-upstream"],
        models=[model],
        price=PRICING,
    )
    server.script(upstream.answer(model, stream))
    user = admin.create_user()
    key = str(admin.create_token(user["id"])["key"])

    seen = CLIENTS[client](gateway, key, model, stream)

    expected = upstream.usage
    assert seen.text == TEXT
    assert (seen.prompt, seen.completion, seen.cached) == (
        expected.prompt_tokens,
        expected.completion_tokens,
        expected.cached_tokens,
    )
    if seen.written is not None:
        assert seen.written == expected.cache_write_tokens
    if client == "anthropic" and expected.cache_write_tokens and (not stream or channel == client):
        # The SDK reads the TTL split from message_start: a translated stream learns the
        # usage at its end, so only whole answers and Anthropic's own stream carry it.
        assert seen.hour == expected.cache_write_1h_tokens

    [row] = usage_rows(gateway.settings.database_url, user["id"])
    stored = Usage(
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        cached_tokens=row["cached_tokens"],
        reasoning_tokens=row["reasoning_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
        cache_write_1h_tokens=row["cache_write_1h_tokens"],
    )
    assert stored == expected
    assert row["cost"] == token_cost(expected, PRICE)

    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        page = http.get("/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()
    [shown] = page["usage"]
    assert (
        shown["cached_tokens"],
        shown["cache_write_tokens"],
        shown["cache_write_1h_tokens"],
    ) == (
        expected.cached_tokens,
        expected.cache_write_tokens,
        expected.cache_write_1h_tokens,
    )


def test_anthropic_cost_prices_reads_and_both_writes() -> None:
    """The Anthropic case above, priced by hand: 50 x 3 + 1000 x 3.75 + 2000 x 6 +
    4000 x 0.3 + 25 x 15 per 1M tokens."""
    cost = token_cost(UPSTREAMS["anthropic"].usage, PRICE)
    assert cost == usd_to_units("0.017475")  # (150 + 3750 + 12000 + 1200 + 375) / 1e6
