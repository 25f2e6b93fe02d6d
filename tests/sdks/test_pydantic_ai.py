"""pydantic-ai (Python) with ``OpenAIResponsesModel`` against the gateway: a plain turn, a
tool-using turn, both whole and streamed, through a chat-completions upstream (translated)
and a Responses upstream (passed through); every model call billed."""

from __future__ import annotations

import asyncio

import pytest
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider
from sdks.conftest import KINDS, SdkSetup

UPSTREAM_PATH = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


def agent(setup: SdkSetup, kind: str) -> Agent[None, str]:
    provider = OpenAIProvider(base_url=setup.base_url, api_key=setup.key)
    model = OpenAIResponsesModel(setup.models[kind], provider=provider)
    return Agent(model, instructions="Be brief.")


async def run(helper: Agent[None, str], prompt: str, stream: bool) -> tuple[str, list[str]]:
    """(final output, the text as it streamed: cumulative pieces)."""
    if not stream:
        result = await helper.run(prompt)
        return result.output, []
    pieces: list[str] = []
    async with helper.run_stream(prompt) as streamed:
        async for text in streamed.stream_output(debounce_by=None):
            pieces.append(text)
        output = await streamed.get_output()
    return output, pieces


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_plain_turn(sdk_setup: SdkSetup, kind: str, stream: bool) -> None:
    start = len(sdk_setup.fakes[kind].requests)
    output, pieces = asyncio.run(run(agent(sdk_setup, kind), "hello pydantic", stream))
    assert output == "Hello! You said: hello pydantic"
    if stream:
        assert pieces and pieces[-1] == output
    assert sdk_setup.paths(kind, start) == {UPSTREAM_PATH[kind]}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_tool_using_turn(sdk_setup: SdkSetup, kind: str, stream: bool) -> None:
    helper = agent(sdk_setup, kind)
    calls: list[tuple[str, str]] = []

    @helper.tool_plain
    def get_weather(location: str, unit: str) -> str:
        """The weather in a city."""
        calls.append((location, unit))
        return f"sunny in {location}"

    start = len(sdk_setup.fakes[kind].requests)
    model = sdk_setup.models[kind]
    before = len(sdk_setup.billed_rows(model, at_least=start))
    output, _ = asyncio.run(run(helper, "weather in Paris?", stream))
    assert calls == [("Paris", "celsius")]
    assert output == "Tool said: sunny in Paris"
    assert sdk_setup.paths(kind, start) == {UPSTREAM_PATH[kind]}
    rows = sdk_setup.billed_rows(model, at_least=before + 2)
    assert len(rows) == before + 2 and all(r["cost"] > 0 for r in rows)
