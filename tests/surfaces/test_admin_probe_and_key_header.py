"""The channel probe judges the upstream's answer, not only its status; and the management
API takes its key as ``Authorization: Bearer`` only, never in the SDKs' key headers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fakes.scripted import Raw, ScriptedServer
from support.admin import Admin, unique_model
from support.gateway import Gateway
from surfaces.admin_kit import expect_error, ok

UPSTREAM_KEY = "sk-probe-upstream-0123456789abcdef"

# A valid answer of each wire format to the probe's one-token chat request.
VALID = {
    "openai": b'{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":'
    b'[{"index":0,"message":{"role":"assistant","content":"h"},"finish_reason":"length"}],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}',
    "anthropic": b'{"id":"msg_1","type":"message","role":"assistant","model":"m","content":'
    b'[{"type":"text","text":"h"}],"stop_reason":"max_tokens","stop_sequence":null,'
    b'"usage":{"input_tokens":1,"output_tokens":1}}',
    "gemini": b'{"candidates":[{"content":{"role":"model","parts":[{"text":"h"}]},'
    b'"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":1,'
    b'"candidatesTokenCount":1,"totalTokenCount":2},"modelVersion":"m"}',
}
INVALID = [
    b"{not json",
    b"<html>gateway says hello</html>",
    b"",
    b'"just a string"',
    b"[1, 2, 3]",
    b'{"unexpected": "shape"}',
]


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def channel_on(admin: Admin, server: ScriptedServer, kind: str) -> str:
    base_url = server.origin + ("/v1" if kind == "openai" else "")
    channel = admin.create_channel(
        type=kind, base_url=base_url, api_keys=[UPSTREAM_KEY], models=[unique_model("probe")]
    )
    return str(channel["id"])


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
def test_probe_succeeds_on_a_valid_answer_of_the_channel_format(
    admin: Admin, server: ScriptedServer, kind: str
) -> None:
    channel_id = channel_on(admin, server, kind)
    server.script(Raw.json(VALID[kind]))
    result = ok(admin.http.post(f"/v1/admin/channels/{channel_id}/test"))
    assert result["success"] is True, result
    assert result["status_code"] == 200


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("body", INVALID, ids=lambda b: repr(b[:12]))
def test_probe_fails_on_a_200_that_is_not_an_answer(
    admin: Admin, server: ScriptedServer, kind: str, body: bytes
) -> None:
    channel_id = channel_on(admin, server, kind)
    server.script(Raw.json(body))
    response = admin.http.post(f"/v1/admin/channels/{channel_id}/test")
    result = ok(response)
    assert result["success"] is False, result
    assert result["status_code"] == 200
    assert isinstance(result.get("message"), str) and result["message"]
    assert UPSTREAM_KEY not in response.text


def test_probe_failure_message_never_echoes_the_key(admin: Admin, server: ScriptedServer) -> None:
    channel_id = channel_on(admin, server, "openai")
    server.script(Raw.json(b'{"error": {"message": "bad key {key}"}}', status=200))
    server.script(Raw.json(b'{"error": {"message": "bad key {key}"}}', status=401))
    for _ in range(2):
        response = admin.http.post(f"/v1/admin/channels/{channel_id}/test")
        assert ok(response)["success"] is False
        assert UPSTREAM_KEY not in response.text


@pytest.mark.parametrize("header", ["x-api-key", "x-goog-api-key"])
def test_management_key_only_as_bearer(gateway: Gateway, admin: Admin, header: str) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for path in ("/v1/admin/users", "/admin/settings", "/v1/admin/channels"):
            expect_error(client.get(path, headers={header: gateway.admin_key}), 401)
            expect_error(client.get(path, params={"key": gateway.admin_key}), 401)
            ok(client.get(path, headers={"Authorization": f"Bearer {gateway.admin_key}"}))
