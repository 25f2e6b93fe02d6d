"""The fake Bedrock checks signatures for real: a request signed by botocore passes, and
any change to what was signed (body, path, time, key, session token) is a 403."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from fakes.bedrock_upstream import (
    TEST_KEY,
    TEST_TEMPORARY_KEY,
    AwsKey,
    FakeBedrock,
    verify_sigv4,
)

MODEL = "anthropic.claude-sonnet-4-5-20250929-v1%3A0"
BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hello there"}],
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock() as running:
        yield running


def signed(
    fake: FakeBedrock, body: bytes, key: AwsKey = TEST_KEY, region: str = "us-east-1"
) -> tuple[str, dict[str, str]]:
    url = f"{fake.base_url}/model/{MODEL}/invoke"
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
    )
    credentials = Credentials(key.access_key, key.secret_key, key.token)
    SigV4Auth(credentials, "bedrock", region).add_auth(request)
    return url, dict(request.headers.items())


def post(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(httpx.URL(url), headers=headers, content=body, timeout=10)


def test_a_signed_request_gets_the_messages_answer(fake: FakeBedrock) -> None:
    body = json.dumps(BODY).encode()
    url, headers = signed(fake, body)
    response = post(url, headers, body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["type"] == "message" and answer["role"] == "assistant"
    assert answer["content"] == [{"type": "text", "text": "Hello! You said: hello there"}]
    assert answer["usage"]["input_tokens"] == 2 and answer["usage"]["output_tokens"] == 5
    assert response.headers["x-amzn-bedrock-output-token-count"] == "5"


def test_temporary_credentials_need_their_session_token(fake: FakeBedrock) -> None:
    body = json.dumps(BODY).encode()
    url, headers = signed(fake, body, TEST_TEMPORARY_KEY)
    assert post(url, headers, body).status_code == 200
    headers.pop("X-Amz-Security-Token")
    assert post(url, headers, body).status_code == 403


@pytest.mark.parametrize(
    "change",
    ["body", "path", "secret", "unknown_key", "region", "no_auth"],
)
def test_anything_not_signed_as_sent_is_refused(fake: FakeBedrock, change: str) -> None:
    body = json.dumps(BODY).encode()
    key, region = TEST_KEY, "us-east-1"
    if change == "secret":
        key = AwsKey(TEST_KEY.access_key, TEST_KEY.secret_key + "x")
    if change == "unknown_key":
        key = AwsKey("AKIAUNKNOWN000000000", TEST_KEY.secret_key)
    if change == "region":
        region = "eu-west-1"
    url, headers = signed(fake, body, key, region)
    if change == "body":
        body = body.replace(b"50", b"51")
    if change == "path":
        url = url.replace("sonnet", "opus")
    if change == "no_auth":
        headers.pop("Authorization")
    before = fake.rejected
    response = post(url, headers, body)
    assert response.status_code == 403, response.text
    assert response.headers["x-amzn-ErrorType"] in (
        "InvalidSignatureException",
        "AccessDeniedException",
    )
    assert fake.rejected == before + 1


def test_a_stale_signature_is_refused() -> None:
    body = json.dumps(BODY).encode()
    request = AWSRequest(method="POST", url="http://h/model/m/invoke", data=body, headers={})
    SigV4Auth(
        Credentials(TEST_KEY.access_key, TEST_KEY.secret_key), "bedrock", "us-east-1"
    ).add_auth(request)
    common: dict[str, Any] = {
        "method": "POST",
        "raw_path": "/model/m/invoke",
        "headers": {"host": "h", **dict(request.headers.items())},
        "body": body,
        "keys": [TEST_KEY],
        "region": "us-east-1",
    }
    assert verify_sigv4(**common) is None
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert verify_sigv4(**common, now=later) == "Signature expired"


def test_invalid_bodies_are_validation_errors(fake: FakeBedrock) -> None:
    for bad in (
        {**BODY, "model": "x"},
        {**BODY, "stream": False},
        {**BODY, "anthropic_version": "x"},
    ):
        body = json.dumps(bad).encode()
        url, headers = signed(fake, body)
        response = post(url, headers, body)
        assert response.status_code == 400, response.text
        assert response.headers["x-amzn-ErrorType"] == "ValidationException"
