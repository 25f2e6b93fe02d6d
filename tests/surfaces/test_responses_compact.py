"""Compaction in the Responses API with the official OpenAI SDK: ``responses.compact``
passed through to a channel that serves the Responses API, compacted by the gateway
(summary by the routed model, sealed per user) for chat and Anthropic channels; the sealed
item expanded when it comes back, to any upstream; a ``compaction_trigger`` item answered
the same ways, whole and streamed; tampered and foreign blobs refused with 400; every
compaction billed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from fakes.anthropic_upstream import FakeAnthropic
from fakes.openai_responses import UPSTREAM_COMPACTION
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_rows

from airelay.formats.responses_compaction import SUMMARY_PREFACE
from airelay.security.compaction_seal import PREFIX

KINDS = ["native", "openai", "anthropic"]
PRICE = {"input": 1, "output": 2}
HISTORY: Any = [
    {"role": "user", "content": "my favourite colour is teal"},
    {"role": "assistant", "content": "Noted: teal."},
    {"role": "user", "content": "and my cat is called Miso"},
]


@dataclass
class Setup:
    fakes: dict[str, Any]
    models: dict[str, str]


@pytest.fixture(scope="module")
def setup(admin: Admin) -> Iterator[Setup]:
    with (
        FakeOpenAI(name="native") as native,
        FakeOpenAI(name="chat") as chat,
        FakeAnthropic() as anthropic_fake,
    ):
        fakes = {"native": native, "openai": chat, "anthropic": anthropic_fake}
        models = {}
        for kind, fake in fakes.items():
            name = unique_model(f"{kind}/compact")
            admin.create_channel(
                type="anthropic" if kind == "anthropic" else "openai",
                base_url=fake.base_url,
                api_keys=["sk-ant-upstream-test" if kind == "anthropic" else "sk-upstream-test"],
                models=[],
                model_mapping={name: f"{kind}-upstream-model"},
                price=PRICE,
                **({"endpoints": ["chat", "responses"]} if kind == "native" else {}),
            )
            models[kind] = name
        yield Setup(fakes, models)


@pytest.fixture
def user(admin: Admin) -> dict[str, Any]:
    user = admin.create_user(balance=5)
    user["key"] = admin.create_token(user["id"])["key"]
    return user


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def sent_text(setup: Setup, kind: str) -> str:
    return str(setup.fakes[kind].requests[-1].body)


def test_a_responses_channel_compacts_by_itself(
    gateway: Gateway, setup: Setup, user: dict[str, Any]
) -> None:
    client = sdk(gateway, user["key"])
    compacted = client.responses.compact(model=setup.models["native"], input=HISTORY)
    request = setup.fakes["native"].requests[-1]
    assert request.path == "/v1/responses/compact"
    assert request.body["model"] == "native-upstream-model"
    assert compacted.object == "response.compaction"
    item = compacted.output[-1]
    assert item.type == "compaction"
    assert item.encrypted_content.startswith(UPSTREAM_COMPACTION)  # the upstream's, untouched
    rows = usage_rows(gateway.settings.database_url, user["id"])
    assert rows[0]["endpoint"] == "/v1/responses/compact"
    assert rows[0]["prompt_tokens"] == compacted.usage.input_tokens and rows[0]["cost"] > 0

    # The upstream's own item goes back to it as it is.
    client.responses.create(
        model=setup.models["native"],
        input=[*[i.model_dump() for i in compacted.output], {"role": "user", "content": "next"}],
    )
    sent = setup.fakes["native"].requests[-1].body["input"]
    assert {"type": "compaction", "encrypted_content": item.encrypted_content} in [
        {k: i.get(k) for k in ("type", "encrypted_content")} for i in sent
    ]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_gateway_compacts_for_other_upstreams(
    gateway: Gateway, setup: Setup, user: dict[str, Any], kind: str
) -> None:
    client = sdk(gateway, user["key"])
    compacted = client.responses.compact(
        model=setup.models[kind], input=HISTORY, instructions="be brief"
    )
    # The routed model was asked for a summary of the whole conversation, as text.
    asked = sent_text(setup, kind)
    assert "teal" in asked and "Miso" in asked and "be brief" in asked
    assert compacted.object == "response.compaction"
    *users, item = compacted.output
    assert [u.model_dump()["content"][0]["text"] for u in users] == [
        "my favourite colour is teal",
        "and my cat is called Miso",
    ]
    assert item.type == "compaction" and item.encrypted_content.startswith(PREFIX)
    assert "teal" not in item.encrypted_content  # sealed
    # Billed as the summary call it was.
    (row,) = usage_rows(gateway.settings.database_url, user["id"])
    assert row["endpoint"] == "/v1/responses/compact"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (
        compacted.usage.input_tokens,
        compacted.usage.output_tokens,
    )
    assert row["cost"] > 0

    # Brought back, the item is the summary again, for this upstream and for any other.
    for target in (kind, "native"):
        reply = client.responses.create(
            model=setup.models[target],
            input=[*[i.model_dump() for i in compacted.output], {"role": "user", "content": "go"}],
        )
        assert reply.output_text
        sent = sent_text(setup, target)
        assert SUMMARY_PREFACE.strip() in sent
        assert PREFIX not in sent


def test_a_tampered_or_foreign_item_is_a_400(
    gateway: Gateway, admin: Admin, setup: Setup, user: dict[str, Any]
) -> None:
    client = sdk(gateway, user["key"])
    item = client.responses.compact(model=setup.models["openai"], input=HISTORY).output[-1]
    blob = item.encrypted_content
    tampered = blob[:-4] + ("AAAA" if not blob.endswith("AAAA") else "BBBB")
    other = admin.create_user(balance=5)
    stranger = sdk(gateway, admin.create_token(other["id"])["key"])
    before = len(setup.fakes["openai"].requests)
    for caller, content in ((client, tampered), (stranger, blob), (client, PREFIX + "!!")):
        with pytest.raises(openai.BadRequestError) as raised:
            caller.responses.create(
                model=setup.models["openai"],
                input=[{"type": "compaction", "encrypted_content": content}],
            )
        body = raised.value.response.json()
        assert set(body["error"]) >= {"message", "type", "code"}
        assert "compaction" in body["error"]["message"]
    with pytest.raises(openai.BadRequestError):
        stranger.responses.compact(
            model=setup.models["openai"],
            input=[{"type": "compaction", "encrypted_content": blob}],
        )
    assert len(setup.fakes["openai"].requests) == before  # nothing went upstream
    assert usage_rows(gateway.settings.database_url, other["id"], 0) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_compaction_trigger_answers_one_compaction_item(
    gateway: Gateway, setup: Setup, user: dict[str, Any], kind: str, stream: bool
) -> None:
    """Codex CLI's remote compaction: a ``POST /v1/responses`` whose input ends with a
    ``compaction_trigger``, answered with exactly one ``compaction`` item."""
    payload = {
        "model": setup.models[kind],
        "input": [*HISTORY, {"type": "compaction_trigger"}],
        "store": False,
        "stream": stream,
    }
    answer = httpx.post(
        gateway.url + "/v1/responses",
        json=payload,
        headers={"Authorization": "Bearer " + user["key"]},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    if stream:
        events = [line[6:] for line in answer.text.splitlines() if line.startswith("data: {")]
        parsed = [json.loads(e) for e in events]
        assert parsed[0]["type"] == "response.created"
        final = parsed[-1]
        assert final["type"] == "response.completed"
        response = final["response"]
    else:
        response = answer.json()
    (item,) = response["output"]
    assert item["type"] == "compaction"
    sent = setup.fakes[kind].requests[-1]
    if kind == "native":
        assert sent.path == "/v1/responses"
        assert sent.body["input"][-1] == {"type": "compaction_trigger"}
        assert item["encrypted_content"].startswith(UPSTREAM_COMPACTION)
    else:
        assert "Miso" in str(sent.body) and "compaction_trigger" not in str(sent.body)
        assert item["encrypted_content"].startswith(PREFIX)
    rows = usage_rows(gateway.settings.database_url, user["id"])
    assert rows[0]["cost"] > 0
