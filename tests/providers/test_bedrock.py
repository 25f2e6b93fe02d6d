"""Bedrock requests: the model id in the path as the AWS SDKs encode it, the Anthropic body
reshaped for InvokeModel, and a SigV4 signature that the fake's verifier (botocore
recomputing it) accepts, per call."""

from __future__ import annotations

import json

import pytest
from fakes.bedrock_upstream import TEST_KEY, TEST_TEMPORARY_KEY, AwsKey, verify_sigv4
from support.egress import NOWHERE

from airelay.client import post_target
from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import build
from airelay.providers.bedrock import (
    BEDROCK_VERSION,
    DEFAULT_REGION,
    Bedrock,
    invoke_url,
    region_of,
)

BEDROCK = Bedrock()
BASE = "https://bedrock-runtime.eu-central-1.amazonaws.com"
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
ANTHROPIC_BODY = {
    "model": MODEL,
    "stream": False,
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "hi"}],
}


def test_invoke_urls() -> None:
    whole = BEDROCK.head(BASE, TEST_KEY.channel_key, Endpoint.CHAT, MODEL, stream=False)
    path = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/"
    assert whole.url == BASE + path + "invoke" == invoke_url(BASE + "/", MODEL, stream=False)
    assert invoke_url(BASE, MODEL, stream=True) == BASE + path + "invoke-with-response-stream"
    assert whole.encoded
    assert whole.headers["Accept"] == "application/json"
    assert BEDROCK.formats == {Endpoint.CHAT: WireFormat.ANTHROPIC}
    assert BEDROCK.framing is Framing.AWS_EVENTSTREAM
    with pytest.raises(ValueError):
        BEDROCK.head(BASE, TEST_KEY.channel_key, Endpoint.EMBEDDINGS, MODEL, stream=False)


def test_a_stream_asks_for_the_event_stream() -> None:
    head = BEDROCK.head(BASE, TEST_KEY.channel_key, Endpoint.CHAT, MODEL, stream=True)
    assert head.url.endswith("/invoke-with-response-stream")
    assert head.headers["Accept"] == "application/vnd.amazon.eventstream"


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://bedrock-runtime.eu-central-1.amazonaws.com/model/x/invoke", "eu-central-1"),
        ("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/m", "us-gov-west-1"),
        ("https://vpce-0abc.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com/m", "ap-southeast-2"),
        ("https://Bedrock-Runtime.US-WEST-2.amazonaws.com/m", "us-west-2"),
        ("http://127.0.0.1:9000/model/x/invoke", DEFAULT_REGION),
        ("https://llm-proxy.internal/bedrock/model/x/invoke", DEFAULT_REGION),
    ],
)
def test_region_comes_from_the_host(url: str, region: str) -> None:
    assert region_of(url) == region


def test_body_drops_model_and_stream_and_names_the_bedrock_version() -> None:
    request = build(
        BEDROCK,
        BASE,
        TEST_KEY.channel_key,
        Endpoint.CHAT,
        MODEL,
        json.dumps(ANTHROPIC_BODY).encode(),
        stream=False,
        egress=NOWHERE,
    )
    assert json.loads(request.body) == {
        "anthropic_version": BEDROCK_VERSION,
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }


@pytest.mark.parametrize("key", [TEST_KEY, TEST_TEMPORARY_KEY], ids=["long-term", "temporary"])
def test_each_call_is_signed_as_it_goes_on_the_wire(key: AwsKey) -> None:
    """The signature covers the head the client writes (Host, the encoded path) and the
    body as sent; a changed body or a wrong secret no longer verifies."""
    head = BEDROCK.head(BASE, key.channel_key, Endpoint.CHAT, MODEL, stream=False)
    finished = BEDROCK.finish(head, key.channel_key, json.dumps(ANTHROPIC_BODY).encode(), NOWHERE)
    target = post_target(head.url, head.headers, encoded=True).with_fields(finished.fields)
    lines = target.head.decode("latin-1").split("\r\n")
    method, raw_path, _ = lines[0].split(" ")
    headers = dict(line.split(": ", 1) for line in lines[1:-1])
    assert ("X-Amz-Security-Token" in headers) == (key.token is not None)
    assert raw_path == "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
    check = {
        "method": method,
        "raw_path": raw_path,
        "headers": headers,
        "keys": [key],
        "region": "eu-central-1",
        "scheme": "https",
    }
    assert verify_sigv4(body=finished.body, **check) is None
    assert verify_sigv4(body=finished.body + b" ", **check) is not None
    assert verify_sigv4(body=finished.body, **{**check, "region": "us-east-1"}) is not None


def test_signatures_are_made_per_call() -> None:
    head = BEDROCK.head(BASE, TEST_KEY.channel_key, Endpoint.CHAT, MODEL, stream=False)
    one = BEDROCK.finish(head, TEST_KEY.channel_key, b'{"max_tokens":1,"messages":[]}', NOWHERE)
    two = BEDROCK.finish(head, TEST_KEY.channel_key, b'{"max_tokens":2,"messages":[]}', NOWHERE)
    assert one.fields["Authorization"] != two.fields["Authorization"]
    assert BEDROCK.per_call is True


@pytest.mark.parametrize(
    "key",
    ["AKIAONLY", "a:b:c:d", ":secret", "id:", "id: secret", ""],
)
def test_keys_of_the_wrong_shape_are_refused_without_echo(key: str) -> None:
    with pytest.raises(ValueError) as refused:
        BEDROCK.check_key(key)
    assert "ACCESS_KEY_ID:SECRET_ACCESS_KEY" in str(refused.value)
    assert not key or key not in str(refused.value)
    BEDROCK.check_key(TEST_KEY.channel_key)
    BEDROCK.check_key(TEST_TEMPORARY_KEY.channel_key)


def test_host_is_signed_in_lower_case() -> None:
    head = BEDROCK.head(
        "https://Bedrock-Runtime.EU-Central-1.amazonaws.com",
        TEST_KEY.channel_key,
        Endpoint.CHAT,
        MODEL,
        stream=False,
    )
    assert head.url.startswith(BASE + "/model/")
