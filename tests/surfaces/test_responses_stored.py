"""``POST /v1/responses`` with stored responses, through the official OpenAI SDK: answers
are kept unless ``store`` is false (whole and streamed), ``previous_response_id`` sends the
whole conversation upstream (translated and passed through), and a user never reaches
another user's responses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fakes.anthropic_upstream import FakeAnthropic
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway

from airelay.surfaces.responses_api import _FinalResponse

KINDS = ["native", "openai", "anthropic"]


@pytest.fixture(scope="module")
def setup(admin: Admin) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    with (
        FakeOpenAI(name="native") as native,
        FakeOpenAI(name="chat") as chat,
        FakeAnthropic() as anthropic_fake,
    ):
        fakes = {"native": native, "openai": chat, "anthropic": anthropic_fake}
        keys = {"native": "sk-upstream-test", "openai": "sk-upstream-test"}
        models = {}
        for kind, fake in fakes.items():
            name = unique_model(f"{kind}/stored")
            admin.create_channel(
                type="anthropic" if kind == "anthropic" else "openai",
                base_url=fake.base_url,
                api_keys=[keys.get(kind, "sk-ant-upstream-test")],
                models=[name],
                **({"endpoints": ["chat", "responses"]} if kind == "native" else {}),
            )
            models[kind] = name
        yield fakes, models


def client_of(gateway: Gateway, admin: Admin) -> openai.OpenAI:
    user = admin.create_user(balance=5)
    key = admin.create_token(user["id"])["key"]
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


@pytest.mark.parametrize("kind", KINDS)
def test_a_conversation_continues_from_the_stored_turn(
    gateway: Gateway, admin: Admin, setup: tuple[dict[str, Any], dict[str, str]], kind: str
) -> None:
    fakes, models = setup
    client = client_of(gateway, admin)
    first = client.responses.create(model=models[kind], input="first question", instructions="x")
    assert client.responses.retrieve(first.id).output_text == first.output_text
    listed = client.responses.input_items.list(first.id)
    assert [item.type for item in listed.data] == ["message"]

    second = client.responses.create(
        model=models[kind], input="second question", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    sent = fakes[kind].requests[-1].body
    if kind == "native":  # the whole conversation, and no id the upstream cannot know
        assert "previous_response_id" not in sent
        assert [i.get("role") for i in sent["input"]] == ["user", "assistant", "user"]
        assert "instructions" not in sent  # a previous turn's instructions stay with it
    else:
        turns = sent["messages"]
        texts = str(turns)
        assert "first question" in texts and first.output_text in texts
        assert "second question" in str(turns[-1])
    # The chain goes on from the second turn.
    third = client.responses.create(
        model=models[kind], input="third", previous_response_id=second.id
    )
    assert third.output_text


@pytest.mark.parametrize("kind", KINDS)
def test_a_streamed_answer_is_stored_from_its_terminal_event(
    gateway: Gateway, admin: Admin, setup: tuple[dict[str, Any], dict[str, str]], kind: str
) -> None:
    _, models = setup
    client = client_of(gateway, admin)
    with client.responses.stream(model=models[kind], input="stream and keep") as stream:
        final = stream.get_final_response()
    kept = client.responses.retrieve(final.id)
    assert kept.output_text == final.output_text and kept.status == "completed"


def test_store_false_keeps_nothing_and_ids_are_per_user(
    gateway: Gateway, admin: Admin, setup: tuple[dict[str, Any], dict[str, str]]
) -> None:
    _, models = setup
    client, other = client_of(gateway, admin), client_of(gateway, admin)
    unkept = client.responses.create(model=models["openai"], input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unkept.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=models["openai"], input="hi", previous_response_id=unkept.id)
    kept = client.responses.create(model=models["openai"], input="hi")
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(kept.id)
    with pytest.raises(openai.BadRequestError):
        other.responses.create(model=models["openai"], input="hi", previous_response_id=kept.id)


def test_the_terminal_event_is_found_however_the_stream_is_cut() -> None:
    stream = b"".join(
        [
            b'event: response.created\ndata: {"type":"response.created","response":{"id":"r"}}\n\n',
            b"event: response.output_text.delta\n"
            b'data: {"type":"x","delta":"response.completed"}\n\n',
            b"event: response.completed\n"
            b'data: {"type":"response.completed","response":{"id":"r","status":"completed"}}\n\n',
        ]
    )
    for cut in range(1, len(stream)):
        final = _FinalResponse()
        final.feed(stream[:cut])
        final.feed(stream[cut:])
        assert final.response == {"id": "r", "status": "completed"}, cut
    cut_short = _FinalResponse()
    cut_short.feed(stream[: stream.index(b"event: response.completed")])
    assert cut_short.response is None


@pytest.mark.parametrize("kind", KINDS)
def test_a_stored_streams_events_say_stored_and_what_they_continue(
    gateway: Gateway, admin: Admin, setup: tuple[dict[str, Any], dict[str, str]], kind: str
) -> None:
    """Every lifecycle event of a stored stream carries ``store: true`` and the
    ``previous_response_id`` the client sent (the upstream got neither), as the whole
    answer and the stored copy do; an unstored stream says ``store: false``."""
    _, models = setup
    client = client_of(gateway, admin)
    first = client.responses.create(model=models[kind], input="first")
    with client.responses.stream(
        model=models[kind], input="second", previous_response_id=first.id
    ) as stream:
        lifecycle = [e for e in stream if hasattr(e, "response")]
    assert lifecycle[0].type == "response.created"
    assert lifecycle[-1].type == "response.completed"
    for event in lifecycle:
        assert event.response.store is True, event.type
        assert event.response.previous_response_id == first.id, event.type
    kept = client.responses.retrieve(lifecycle[-1].response.id)
    assert kept.store is True and kept.previous_response_id == first.id

    with client.responses.stream(model=models[kind], input="unkept", store=False) as stream:
        unkept = [e for e in stream if hasattr(e, "response")]
    assert all(e.response.store is False for e in unkept)
