"""Stored Responses API answers through the real gateway over HTTP, on SQLite and PostgreSQL,
with the official OpenAI SDK as the client: ``responses.retrieve``, ``responses.delete``,
``responses.input_items.list`` (its own pagination), each route also without ``/v1``;
another user's id, an unknown one and an expired one are 404 in OpenAI's error shape; expired
rows are pruned by the retention task.

``POST /v1/responses`` is not what this file tests: responses are seeded through the
repository, or through ``remember`` in the running gateway (the call the POST handler makes),
which also shows a response readable the moment it was remembered, before any write.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import openai
import pytest
from sqlalchemy import select
from support.admin import Admin
from support.gateway import Gateway

from airelay.billing.retention import UsageRetention
from airelay.errors import GatewayError
from airelay.ids import new_id
from airelay.state import STATE, AppState
from airelay.store import responses
from airelay.store.db import create_engine
from airelay.store.responses import StoredResponse
from airelay.store.tables import responses as responses_table
from airelay.surfaces import responses_store

T = TypeVar("T")
DAY = 86400


@dataclass
class Caller:
    key: str
    user_id: str
    token_id: str


@pytest.fixture(scope="module")
def alice(admin: Admin) -> Caller:
    user = admin.create_user()
    token = admin.create_token(user["id"])
    return Caller(token["key"], user["id"], token["id"])


@pytest.fixture(scope="module")
def bob(admin: Admin) -> Caller:
    user = admin.create_user()
    token = admin.create_token(user["id"])
    return Caller(token["key"], user["id"], token["id"])


def sdk(gateway: Gateway, key: str, *, v1: bool = True) -> openai.OpenAI:
    base = gateway.url + ("/v1" if v1 else "")
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=20)


def response_object(response_id: str, text: str, **fields: Any) -> dict[str, Any]:
    """A whole response as POST /v1/responses answers it."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": "gpt-4o-mini",
        "instructions": None,
        "output": [
            {
                "id": new_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 5,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 2,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 7,
        },
        **fields,
    }


def seed(
    gateway: Gateway,
    caller: Caller,
    input_items: list[dict[str, Any]] | None = None,
    *,
    text: str = "stored answer",
    expires_at: int | None = None,
) -> StoredResponse:
    """A response written straight to the gateway's database."""
    response_id = new_id("resp")
    now = int(time.time())
    row = StoredResponse(
        id=response_id,
        user_id=caller.user_id,
        token_id=caller.token_id,
        model="gpt-4o-mini",
        previous_response_id=None,
        input_items=input_items or [{"type": "message", "role": "user", "content": "hi"}],
        body=response_object(response_id, text),
        created_at=now,
        expires_at=expires_at if expires_at is not None else now + 30 * DAY,
    )

    async def write() -> None:
        engine = create_engine(gateway.settings.database_url)
        try:
            async with engine.begin() as conn:
                await responses.save(conn, [row])
        finally:
            await engine.dispose()

    asyncio.run(write())
    return row


def in_gateway(gateway: Gateway, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the gateway's own event loop (where its state lives)."""
    assert gateway._loop is not None
    return asyncio.run_coroutine_threadsafe(work, gateway._loop).result(20)


def state_of(gateway: Gateway) -> AppState:
    assert gateway._runner is not None
    return gateway._runner.app[STATE]


def not_found_body(response_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Response with id '{response_id}' not found.",
            "type": "invalid_request_error",
            "code": 404,
        }
    }


def test_retrieve_returns_the_stored_object(gateway: Gateway, alice: Caller) -> None:
    row = seed(gateway, alice, text="forty-two")
    got = sdk(gateway, alice.key).responses.retrieve(row.id)
    assert got.id == row.id and got.status == "completed"
    assert got.output_text == "forty-two"
    assert got.usage is not None and got.usage.total_tokens == 7
    bare = sdk(gateway, alice.key, v1=False).responses.retrieve(row.id)
    assert bare.model_dump(exclude_unset=True) == got.model_dump(exclude_unset=True)
    raw = httpx.get(
        f"{gateway.url}/v1/responses/{row.id}",
        headers={"Authorization": f"Bearer {alice.key}"},
    )
    assert raw.status_code == 200 and raw.json() == row.body
    assert raw.headers["x-request-id"]


def test_another_users_or_an_unknown_id_is_404(
    gateway: Gateway, alice: Caller, bob: Caller
) -> None:
    row = seed(gateway, alice)
    client = sdk(gateway, bob.key)
    with pytest.raises(openai.NotFoundError) as error:
        client.responses.retrieve(row.id)
    assert error.value.body == not_found_body(row.id)["error"]
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(row.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(row.id)
    assert sdk(gateway, alice.key).responses.retrieve(row.id).id == row.id  # still there
    for path in (f"/v1/responses/{row.id}", f"/responses/{row.id}/input_items"):
        raw = httpx.get(gateway.url + path, headers={"Authorization": f"Bearer {bob.key}"})
        assert (raw.status_code, raw.json()) == (404, not_found_body(row.id))
    unknown = "resp_" + "0" * 30
    with pytest.raises(openai.NotFoundError):
        sdk(gateway, alice.key).responses.retrieve(unknown)
    too_long = "resp_" + "x" * 300
    raw = httpx.get(
        f"{gateway.url}/v1/responses/{too_long}", headers={"Authorization": f"Bearer {alice.key}"}
    )
    assert raw.status_code == 404 and raw.json()["error"]["type"] == "invalid_request_error"


def test_delete_answers_openai_shape_and_the_response_is_gone(
    gateway: Gateway, alice: Caller
) -> None:
    first, second = seed(gateway, alice), seed(gateway, alice)
    client = sdk(gateway, alice.key)
    assert client.responses.delete(first.id) is None  # the SDK reads no body
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(first.id)
    raw = httpx.delete(
        f"{gateway.url}/responses/{second.id}", headers={"Authorization": f"Bearer {alice.key}"}
    )
    assert raw.status_code == 200
    assert raw.json() == {"id": second.id, "object": "response.deleted", "deleted": True}


def test_input_items_page_through_the_sdk(gateway: Gateway, alice: Caller) -> None:
    items: list[dict[str, Any]] = [
        {"role": "developer", "content": "be brief"},
        *({"type": "message", "role": "user", "content": f"turn {i}"} for i in range(4)),
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
    ]
    row = seed(gateway, alice, items)
    client = sdk(gateway, alice.key)
    first = client.responses.input_items.list(row.id, limit=2, order="asc")
    assert len(first.data) == 2 and first.has_more is True
    everything = list(client.responses.input_items.list(row.id, limit=2, order="asc"))
    assert len(everything) == len(items)
    assert [item.type for item in everything] == ["message"] * 5 + ["function_call_output"]
    assert everything[0].role == "developer"  # type: ignore[union-attr]
    assert everything[0].content[0].text == "be brief"  # type: ignore[union-attr]
    assert everything[-1].call_id == "call_1"  # type: ignore[union-attr]
    ids = [item.id for item in everything]
    assert len(set(ids)) == len(ids)
    newest_first = list(client.responses.input_items.list(row.id, limit=4))
    assert [item.id for item in newest_first] == ids[::-1]
    raw = httpx.get(
        f"{gateway.url}/v1/responses/{row.id}/input_items",
        params={"limit": 1, "order": "asc", "after": ids[0]},
        headers={"Authorization": f"Bearer {alice.key}"},
    ).json()
    assert raw["object"] == "list"
    assert (raw["first_id"], raw["last_id"], raw["has_more"]) == (ids[1], ids[1], True)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/input_items", {"limit": "0"}),
        ("/input_items", {"limit": "101"}),
        ("/input_items", {"limit": "many"}),
        ("/input_items", {"order": "sideways"}),
        ("/input_items", {"after": "msg_nope"}),
        ("/input_items", {"before": "msg_nope"}),
        ("", {"stream": "true"}),
    ],
)
def test_settings_that_cannot_be_honoured_are_400(
    gateway: Gateway, alice: Caller, path: str, params: dict[str, str]
) -> None:
    row = seed(gateway, alice)
    raw = httpx.get(
        f"{gateway.url}/v1/responses/{row.id}{path}",
        params=params,
        headers={"Authorization": f"Bearer {alice.key}"},
    )
    assert raw.status_code == 400, raw.text
    assert raw.json()["error"]["type"] == "invalid_request_error"


def test_a_key_without_chat_permission_is_403(
    gateway: Gateway, admin: Admin, alice: Caller
) -> None:
    row = seed(gateway, alice)
    key = admin.create_token(alice.user_id, permissions=["embeddings"])["key"]
    with pytest.raises(openai.PermissionDeniedError):
        sdk(gateway, key).responses.retrieve(row.id)


def test_an_expired_response_is_404_and_then_pruned(gateway: Gateway, alice: Caller) -> None:
    expired = seed(gateway, alice, expires_at=int(time.time()) - 1)
    live = seed(gateway, alice)
    client = sdk(gateway, alice.key)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(expired.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list(expired.id)

    async def prune() -> set[str]:
        engine = create_engine(gateway.settings.database_url)
        try:
            await UsageRetention(engine, 0, responses=True).run_once()
            async with engine.connect() as conn:
                ids = select(responses_table.c.id).where(
                    responses_table.c.id.in_([expired.id, live.id])
                )
                return set((await conn.execute(ids)).scalars())
        finally:
            await engine.dispose()

    assert asyncio.run(prune()) == {live.id}
    assert client.responses.retrieve(live.id).id == live.id


def test_remembered_responses_are_readable_at_once_and_continue(
    gateway: Gateway, alice: Caller, bob: Caller
) -> None:
    """What POST /v1/responses does around its relay call, in the running gateway."""
    state = state_of(gateway)
    first_id, second_id = new_id("resp"), new_id("resp")
    first_answer = response_object(first_id, "Paris.", instructions="Answer in one word.")
    second_answer = response_object(second_id, "About 2.1 million.")

    async def converse() -> list[dict[str, Any]]:
        stored = await responses_store.remember(
            state,
            user_id=alice.user_id,
            token_id=alice.token_id,
            request_payload={"model": "gpt-4o-mini", "input": "Capital of France?"},
            response_object=first_answer,
        )
        assert stored is True
        history = await responses_store.previous_items(state, alice.user_id, first_id)
        follow_up = [{"role": "user", "content": "Its population?"}]
        await responses_store.remember(
            state,
            user_id=alice.user_id,
            token_id=alice.token_id,
            request_payload={
                "model": "gpt-4o-mini",
                "input": follow_up,
                "previous_response_id": first_id,
            },
            response_object=second_answer,
        )
        assert history == [
            {"type": "message", "role": "user", "content": "Capital of France?"},
            first_answer["output"][0],
        ]
        return await responses_store.previous_items(state, alice.user_id, second_id)

    conversation = in_gateway(gateway, converse())
    assert conversation == [
        {"type": "message", "role": "user", "content": "Capital of France?"},
        first_answer["output"][0],
        {"role": "user", "content": "Its population?"},
        second_answer["output"][0],
    ]
    assert "one word" not in repr(conversation)  # instructions are not carried over
    client = sdk(gateway, alice.key)
    assert client.responses.retrieve(second_id).output_text == "About 2.1 million."
    (listed,) = client.responses.input_items.list(second_id).data  # its own input only
    assert listed.content[0].text == "Its population?"  # type: ignore[union-attr]

    async def refused(user_id: str, previous: object) -> GatewayError:
        try:
            await responses_store.previous_items(state, user_id, previous)
        except GatewayError as error:
            return error
        raise AssertionError("previous_items did not refuse")

    theirs = in_gateway(gateway, refused(bob.user_id, second_id))
    assert theirs.status == 400
    assert theirs.message == f"Previous response with id '{second_id}' not found."
    assert in_gateway(gateway, refused(alice.user_id, 42)).status == 400
    sdk(gateway, alice.key).responses.delete(first_id)
    broken = in_gateway(gateway, refused(alice.user_id, second_id))
    assert broken.status == 400 and first_id in broken.message


def test_store_false_keeps_nothing(gateway: Gateway, alice: Caller) -> None:
    state = state_of(gateway)
    response_id = new_id("resp")
    kept = in_gateway(
        gateway,
        responses_store.remember(
            state,
            user_id=alice.user_id,
            token_id=alice.token_id,
            request_payload={"model": "gpt-4o-mini", "input": "hi", "store": False},
            response_object=response_object(response_id, "hello"),
        ),
    )
    assert kept is False
    with pytest.raises(openai.NotFoundError):
        sdk(gateway, alice.key).responses.retrieve(response_id)
