"""The caller's format for errors (``client_format``): from the route, and from Anthropic's
version header only on the model list, the one route both SDKs call."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from airelay.formats.names import WireFormat
from airelay.surfaces.responses import client_format

ANTHROPIC = {"anthropic-version": "2023-06-01"}


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("POST", "/v1/messages", {}, WireFormat.ANTHROPIC),
        ("POST", "/v1/messages/count_tokens", {}, WireFormat.ANTHROPIC),
        ("GET", "/v1/models", ANTHROPIC, WireFormat.ANTHROPIC),
        ("GET", "/v1/models/claude-x", ANTHROPIC, WireFormat.ANTHROPIC),
        ("GET", "/v1/models", {}, WireFormat.OPENAI),
        ("POST", "/v1beta/models/m:generateContent", {}, WireFormat.GEMINI),
        ("POST", "/v1/models/m:generateContent", {}, WireFormat.GEMINI),
        # The header changes nothing on the management API nor OpenAI's routes (a fuzzed
        # admin call with it got its 409 in Anthropic's shape).
        ("POST", "/v1/admin/models", ANTHROPIC, WireFormat.OPENAI),
        ("POST", "/v1/chat/completions", ANTHROPIC, WireFormat.OPENAI),
    ],
)
def test_client_format(
    method: str, path: str, headers: dict[str, str], expected: WireFormat
) -> None:
    assert client_format(make_mocked_request(method, path, headers=headers)) is expected
