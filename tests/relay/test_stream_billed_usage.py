"""A stream whose upstream reports no usage is billed on the gateway's count, and the client
is told that count, in its own format's usage fields: the final chunk of an OpenAI stream
with ``include_usage``, Anthropic's ``message_delta`` (what the SDK's final message says),
Gemini's last ``usageMetadata``. Every client format, passed through and translated, each
read with its official SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import openai
import orjson
import pytest
from fakes.chat_streams import NO_USAGE_STREAMS, WORDS
from fakes.scripted import Raw, ScriptedServer
from google import genai
from google.genai import types
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_rows

PROMPT = "Tell me about foxes and dogs, please, in a few words."


def read_openai(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    chunks = list(
        sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = chunks[-1].usage
    assert usage is not None, "the last chunk carries no usage"
    assert not chunks[-1].choices
    return text, usage.prompt_tokens, usage.completion_tokens


def read_anthropic(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    with sdk.messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    usage = final.usage
    prompt = (
        usage.input_tokens
        + (usage.cache_read_input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0)
    )
    return text, prompt, usage.output_tokens


def read_gemini(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=gateway.url, timeout=30_000)
    )
    chunks = list(sdk.models.generate_content_stream(model=model, contents=PROMPT))
    text = "".join(c.text or "" for c in chunks)
    usage = chunks[-1].usage_metadata
    assert usage is not None, "the last chunk carries no usageMetadata"
    completion = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    return text, usage.prompt_token_count or 0, completion


def read_responses(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    with sdk.responses.stream(model=model, input=PROMPT) as stream:
        final = stream.get_final_response()
    assert final.usage is not None, "response.completed carries no usage"
    return final.output_text, final.usage.input_tokens, final.usage.output_tokens


CLIENTS = {
    "openai": read_openai,
    "anthropic": read_anthropic,
    "gemini": read_gemini,
    "responses": read_responses,
}
# The channel of each upstream format: (type, endpoints, base URL path).
CHANNELS = {
    "openai": ("openai", ["chat"], "/v1"),
    "anthropic": ("anthropic", ["chat"], ""),
    "gemini": ("gemini", ["chat"], ""),
    "responses": ("openai", ["responses"], "/v1"),
}
PAIRS = [(c, u) for c in CLIENTS for u in NO_USAGE_STREAMS]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.mark.parametrize(("client", "channel_fmt"), PAIRS, ids=[f"{c}-to-{u}" for c, u in PAIRS])
def test_client_is_told_the_billed_estimate(
    gateway: Gateway, admin: Admin, server: ScriptedServer, client: str, channel_fmt: str
) -> None:
    model = unique_model(f"nousage-{channel_fmt}")
    server.script(Raw.sse(*NO_USAGE_STREAMS[channel_fmt](model)))
    told_what_is_billed(gateway, admin, server, CLIENTS[client], channel_fmt, model)


def told_what_is_billed(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    read: Callable[[Gateway, str, str], tuple[str, int, int]],
    channel_fmt: str,
    model: str,
) -> None:
    """A channel of ``channel_fmt`` on the scripted server serves ``model``; the usage
    ``read`` reports to the client equals the usage row's, counted offline."""
    kind, endpoints, path = CHANNELS[channel_fmt]
    admin.create_channel(
        type=kind,
        base_url=server.origin + path,
        api_keys=["sk-nousage-upstream"],
        models=[model],
        endpoints=endpoints,
    )
    user = admin.create_user()
    key = str(admin.create_token(user["id"])["key"])

    text, prompt, completion = read(gateway, key, model)

    assert text == WORDS
    [row] = usage_rows(gateway.settings.database_url, user["id"])
    assert row["status"] == 200
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0  # counted offline
    assert (prompt, completion) == (row["prompt_tokens"], row["completion_tokens"])


# ---- whole answers without usage ----------------------------------------------------------


def whole_without_usage(fmt: str, model: str) -> dict[str, object]:
    text = {"type": "text", "text": WORDS}
    if fmt == "openai":
        message = {"role": "assistant", "content": WORDS}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return {
            "id": "c1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [choice],
        }
    if fmt == "anthropic":  # counted nothing, as some compatible upstreams do
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [text],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
    if fmt == "gemini":
        parts = {"role": "model", "parts": [{"text": WORDS}]}
        return {"candidates": [{"content": parts, "finishReason": "STOP", "index": 0}]}
    part = {"type": "output_text", "text": WORDS, "annotations": []}
    item = {
        "type": "message",
        "id": "m1",
        "role": "assistant",
        "status": "completed",
        "content": [part],
    }
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": model,
        "output": [item],
        "usage": None,
    }


def whole_openai(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    reply = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}])
    assert reply.usage is not None
    return (
        reply.choices[0].message.content or "",
        reply.usage.prompt_tokens,
        reply.usage.completion_tokens,
    )


def whole_anthropic(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30)
    reply = sdk.messages.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": PROMPT}]
    )
    text = "".join(b.text for b in reply.content if b.type == "text")
    return text, reply.usage.input_tokens, reply.usage.output_tokens


def whole_gemini(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = genai.Client(
        api_key=key, http_options=types.HttpOptions(base_url=gateway.url, timeout=30_000)
    )
    reply = sdk.models.generate_content(model=model, contents=PROMPT)
    usage = reply.usage_metadata
    assert usage is not None
    return reply.text or "", usage.prompt_token_count or 0, usage.candidates_token_count or 0


def whole_responses(gateway: Gateway, key: str, model: str) -> tuple[str, int, int]:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)
    reply = sdk.responses.create(model=model, input=PROMPT, store=False)
    assert reply.usage is not None
    return reply.output_text, reply.usage.input_tokens, reply.usage.output_tokens


WHOLE_CLIENTS = {
    "openai": whole_openai,
    "anthropic": whole_anthropic,
    "gemini": whole_gemini,
    "responses": whole_responses,
}


@pytest.mark.parametrize(("client", "channel_fmt"), PAIRS, ids=[f"{c}-to-{u}" for c, u in PAIRS])
def test_a_whole_answer_tells_the_billed_estimate(
    gateway: Gateway, admin: Admin, server: ScriptedServer, client: str, channel_fmt: str
) -> None:
    model = unique_model(f"nousage-whole-{channel_fmt}")
    server.script(Raw.json(orjson.dumps(whole_without_usage(channel_fmt, model))))
    told_what_is_billed(gateway, admin, server, WHOLE_CLIENTS[client], channel_fmt, model)
