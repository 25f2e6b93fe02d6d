"""Calls through a ``bedrock`` channel: the OpenAI and the Anthropic SDKs as clients, a fake
Bedrock behind the gateway that verifies the SigV4 signature of every request, and the books
on the usage the fake reports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import anthropic
import openai
import pytest
from fakes.bedrock_upstream import TEST_KEY, TEST_TEMPORARY_KEY, AwsKey, Behaviour, FakeBedrock
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_statuses, wait_for_rows

from airelay.money import usd_to_units

MODEL_ID = "anthropic.claude-sonnet-4-5-20250929-v1:0"
PRICE = {"input": 3, "output": 15}


@pytest.fixture(scope="module")
def bedrock() -> Iterator[FakeBedrock]:
    with FakeBedrock() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh(bedrock: FakeBedrock) -> None:
    bedrock.reset()


@dataclass
class Route:
    model: str
    key: str
    user_id: str


def route(admin: Admin, bedrock: FakeBedrock, *keys: AwsKey, **fields: object) -> Route:
    """A public model mapped to a Bedrock model id on a channel holding ``keys``."""
    model = unique_model("bedrock")
    admin.create_channel(
        type="bedrock",
        base_url=bedrock.base_url,
        api_keys=[key.channel_key for key in keys or (TEST_KEY,)],
        models=[],
        model_mapping={model: MODEL_ID},
        price=PRICE,
        **fields,
    )
    user = admin.create_user(balance=1)
    return Route(model, admin.create_token(user["id"])["key"], user["id"])


def cost(prompt: int, completion: int) -> int:
    return prompt * 30_000 + completion * 150_000  # $3 / $15 per 1M tokens, in units


def test_openai_sdk_through_bedrock(gateway: Gateway, admin: Admin, bedrock: FakeBedrock) -> None:
    r = route(admin, bedrock)
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=r.key, max_retries=0, timeout=30)
    reply = sdk.chat.completions.create(
        model=r.model, messages=[{"role": "user", "content": "hello there"}], max_tokens=64
    )
    assert reply.choices[0].message.content == "Hello! You said: hello there"
    assert reply.model == r.model
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (2, 5)
    sent = bedrock.invoke_requests[-1]
    assert sent.path == "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
    assert sent.body is not None
    assert sent.body["anthropic_version"] == "bedrock-2023-05-31"
    assert "model" not in sent.body and "stream" not in sent.body
    assert sent.body["max_tokens"] == 64
    assert sent.headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={TEST_KEY.access_key}/"
    )
    assert bedrock.rejected == 0
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 1)
    assert books.usage_cost == cost(2, 5) == books.total_usage
    assert books.spendable == usd_to_units(1) - cost(2, 5)


def test_anthropic_sdk_through_bedrock(
    gateway: Gateway, admin: Admin, bedrock: FakeBedrock
) -> None:
    r = route(admin, bedrock)
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=r.key, max_retries=0, timeout=30)
    reply = sdk.messages.create(
        model=r.model,
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "hello from anthropic"}],
    )
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "Hello! You said: hello from anthropic"
    assert reply.model == r.model
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (5, 6)
    sent = bedrock.invoke_requests[-1].body
    assert sent is not None and sent["system"] == "be brief"
    assert set(sent) == {"anthropic_version", "max_tokens", "system", "messages"}
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 1)
    assert books.usage_cost == cost(5, 6)


def test_temporary_credentials_send_their_session_token(
    gateway: Gateway, admin: Admin, bedrock: FakeBedrock
) -> None:
    r = route(admin, bedrock, TEST_TEMPORARY_KEY)
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=r.key, max_retries=0, timeout=30)
    for prompt in ("hi", "hi again"):  # the second call is signed anew over the cached head
        reply = sdk.chat.completions.create(
            model=r.model, messages=[{"role": "user", "content": prompt}]
        )
        assert reply.choices[0].message.content == "Hello! You said: " + prompt
    sent = bedrock.invoke_requests
    assert [r.headers["x-amz-security-token"] for r in sent] == [TEST_TEMPORARY_KEY.token] * 2
    assert sent[0].headers["authorization"] != sent[1].headers["authorization"]
    assert bedrock.rejected == 0


def test_a_wrong_secret_is_refused_upstream_and_never_shown(
    gateway: Gateway, admin: Admin, bedrock: FakeBedrock
) -> None:
    wrong = AwsKey(TEST_KEY.access_key, "wRoNg/SeCrEt+0123456789abcdefghijklmnopq")
    r = route(admin, bedrock, wrong)
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=r.key, max_retries=0, timeout=30)
    with pytest.raises(openai.APIStatusError) as failed:
        sdk.chat.completions.create(model=r.model, messages=[{"role": "user", "content": "hi"}])
    assert failed.value.status_code == 502
    assert bedrock.rejected == 1
    text = failed.value.response.text
    assert wrong.secret_key not in text and wrong.channel_key not in text


def test_a_refused_signature_fails_over_to_the_next_channel(
    gateway: Gateway, admin: Admin, bedrock: FakeBedrock
) -> None:
    r = route(admin, bedrock, AwsKey(TEST_KEY.access_key, "not-the-secret"), priority=1)
    admin.create_channel(
        type="bedrock",
        base_url=bedrock.base_url,
        api_keys=[TEST_KEY.channel_key],
        models=[],
        model_mapping={r.model: MODEL_ID},
        priority=2,
    )
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=r.key, max_retries=0, timeout=30)
    reply = sdk.chat.completions.create(model=r.model, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "Hello! You said: hi"
    assert bedrock.rejected == 1 and len(bedrock.invoke_requests) == 2


def test_openai_sdk_streams_through_bedrock(
    gateway: Gateway, admin: Admin, bedrock: FakeBedrock
) -> None:
    """Bedrock streams Anthropic events in AWS event-stream framing; an OpenAI client gets
    them translated, and the call is billed on the usage those events report."""
    r = route(admin, bedrock)
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=r.key, max_retries=0, timeout=30)
    chunks = sdk.chat.completions.create(
        model=r.model,
        messages=[{"role": "user", "content": "hello there"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = list(chunks)
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert text == "Hello! You said: hello there"
    usage = [c.usage for c in pieces if c.usage is not None]
    assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == [(2, 5)]
    sent = bedrock.requests[-1]
    assert (
        sent.path
        == "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
    )
    assert sent.body is not None and "stream" not in sent.body
    assert bedrock.rejected == 0
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 1)
    assert books.usage_cost == cost(2, 5) == books.total_usage


def test_anthropic_sdk_streams_through_bedrock(
    gateway: Gateway, admin: Admin, bedrock: FakeBedrock
) -> None:
    """Same format on both sides: the events pass to the Anthropic client as SSE."""
    r = route(admin, bedrock)
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=r.key, max_retries=0, timeout=30)
    with sdk.messages.stream(
        model=r.model, max_tokens=100, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! You said: stream it"
    assert final.model == r.model
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2, 5)
    books = wait_for_rows(gateway.settings.database_url, r.user_id, 1)
    assert books.usage_cost == cost(2, 5)


def test_a_bedrock_stream_cut_midway_is_billed_as_failed(
    gateway: Gateway, admin: Admin, bedrock: FakeBedrock
) -> None:
    r = route(admin, bedrock)
    bedrock.script(Behaviour.drop_after(3))
    sdk = anthropic.Anthropic(base_url=gateway.url, api_key=r.key, max_retries=0, timeout=30)
    with (
        pytest.raises(anthropic.APIError),
        sdk.messages.stream(
            model=r.model, max_tokens=100, messages=[{"role": "user", "content": "cut me"}]
        ) as stream,
    ):
        "".join(stream.text_stream)
    assert usage_statuses(gateway.settings.database_url, r.user_id) == [502]
