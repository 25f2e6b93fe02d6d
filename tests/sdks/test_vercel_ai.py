"""The Vercel AI SDK 6 (``ai`` + ``@ai-sdk/openai``, whose ``openai(model)`` speaks the
Responses API) under node against the gateway: a plain turn, a tool-using turn, both whole
(``generateText``) and streamed (``streamText``), through a chat-completions upstream
(translated) and a Responses upstream (passed through); every model call billed.

The SDK is installed from npm at the versions and hashes of ``vercel/package-lock.json``
(``make test`` does it); without node or the packages the tests skip, except under CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sdks.conftest import KINDS, SdkSetup

HERE = Path(__file__).parent / "vercel"
UPSTREAM_PATH = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


def scenario(setup: SdkSetup, kind: str, prompt: str, *, tools: bool, stream: bool) -> Any:
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / ".installed").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("node or the Vercel AI SDK is missing: `make test` installs it")
        pytest.skip("node or the Vercel AI SDK is missing (`make test` installs it with npm)")
    args = {
        "baseURL": setup.base_url,
        "apiKey": setup.key,
        "model": setup.models[kind],
        "prompt": prompt,
        "tools": tools,
        "stream": stream,
    }
    done = subprocess.run(
        [node, str(HERE / "scenario.mjs"), json.dumps(args)],
        cwd=HERE,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_plain_turn(sdk_setup: SdkSetup, kind: str, stream: bool) -> None:
    start = len(sdk_setup.fakes[kind].requests)
    out = scenario(sdk_setup, kind, "hello vercel", tools=False, stream=stream)
    assert out["text"] == "Hello! You said: hello vercel"
    if stream:
        assert out["streamed"] == out["text"]
    assert sdk_setup.paths(kind, start) == {UPSTREAM_PATH[kind]}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_tool_using_turn(sdk_setup: SdkSetup, kind: str, stream: bool) -> None:
    start = len(sdk_setup.fakes[kind].requests)
    model = sdk_setup.models[kind]
    before = len(sdk_setup.billed_rows(model, at_least=start))
    out = scenario(sdk_setup, kind, "weather in Paris?", tools=True, stream=stream)
    assert out["calls"] == [{"location": "Paris", "unit": "celsius"}]
    assert out["text"].startswith("Tool said:") and "sunny in Paris" in out["text"]
    assert sdk_setup.paths(kind, start) == {UPSTREAM_PATH[kind]}
    rows = sdk_setup.billed_rows(model, at_least=before + 2)
    assert len(rows) == before + 2 and all(r["cost"] > 0 for r in rows)
