"""openai-agents (Python) against the gateway over the Responses API (its default model
class, ``OpenAIResponsesModel``): a plain turn, a tool-using turn, both whole and streamed,
through a chat-completions upstream (translated) and a Responses upstream (passed through);
every model call billed."""

from __future__ import annotations

import asyncio

import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI
from openai.types.responses import ResponseTextDeltaEvent
from sdks.conftest import KINDS, SdkSetup

set_tracing_disabled(True)  # no trace export to OpenAI's servers

UPSTREAM_PATH = {"chat": "/v1/chat/completions", "responses": "/v1/responses"}


def agent(setup: SdkSetup, kind: str, tools: list[object] | None = None) -> Agent:
    client = AsyncOpenAI(base_url=setup.base_url, api_key=setup.key, max_retries=0)
    model = OpenAIResponsesModel(model=setup.models[kind], openai_client=client)
    return Agent(name="helper", instructions="Be brief.", model=model, tools=tools or [])


async def run(
    setup: SdkSetup, kind: str, prompt: str, stream: bool, tools: list[object]
) -> tuple[str, str]:
    """(final output, the text streamed or "")."""
    helper = agent(setup, kind, tools)
    if not stream:
        result = await Runner.run(helper, prompt)
        return str(result.final_output), ""
    streamed = Runner.run_streamed(helper, prompt)
    deltas = []
    async for event in streamed.stream_events():
        if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
            deltas.append(event.data.delta)
    return str(streamed.final_output), "".join(deltas)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_plain_turn(sdk_setup: SdkSetup, kind: str, stream: bool) -> None:
    start = len(sdk_setup.fakes[kind].requests)
    output, streamed = asyncio.run(run(sdk_setup, kind, "hello agents", stream, []))
    assert output == "Hello! You said: hello agents"
    if stream:
        assert streamed == output
    assert sdk_setup.paths(kind, start) == {UPSTREAM_PATH[kind]}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_tool_using_turn(sdk_setup: SdkSetup, kind: str, stream: bool) -> None:
    calls: list[tuple[str, str]] = []

    @function_tool
    def get_weather(location: str, unit: str) -> str:
        """The weather in a city."""
        calls.append((location, unit))
        return f"sunny in {location}"

    start = len(sdk_setup.fakes[kind].requests)
    model = sdk_setup.models[kind]
    # Every earlier call to this channel's upstream is billed first (one row each).
    before = len(sdk_setup.billed_rows(model, at_least=start))
    output, _ = asyncio.run(run(sdk_setup, kind, "weather in Paris?", stream, [get_weather]))
    assert calls == [("Paris", "celsius")]
    assert output == "Tool said: sunny in Paris"
    assert sdk_setup.paths(kind, start) == {UPSTREAM_PATH[kind]}
    rows = sdk_setup.billed_rows(model, at_least=before + 2)  # the call, then the answer
    assert len(rows) == before + 2 and all(r["cost"] > 0 for r in rows)
