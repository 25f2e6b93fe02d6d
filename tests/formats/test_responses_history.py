"""The Responses API's conversation state, as pure functions: what a request continuing
stored responses makes the model see, and how stored input items are listed and paged."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airelay.formats.responses_history import (
    expand,
    input_items,
    item_id,
    listed_items,
    output_items,
    page,
)


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text}


def answer(text: str, item: str) -> dict[str, Any]:
    return {
        "id": item,
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def response(*output: dict[str, Any], instructions: str | None = None) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "instructions": instructions,
        "output": list(output),
    }


def test_a_string_input_is_one_user_message() -> None:
    assert input_items("hello") == [user("hello")]
    assert input_items(None) == []
    items = [user("a"), {"type": "function_call_output", "call_id": "c1", "output": "42"}]
    assert input_items(items) == items
    assert input_items(items) is not items  # a copy: the caller's list is not aliased


@pytest.mark.parametrize("bad", [5, {"role": "user"}, ["text"], [user("a"), 3]])
def test_input_that_is_no_items_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="input"):
        input_items(bad)


def test_output_items_are_the_response_output() -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    body = response(answer("hi", "msg_1"), call)
    assert output_items(body) == [answer("hi", "msg_1"), call]
    assert output_items({"output": None}) == []
    assert output_items("not a response") == []
    assert output_items({"output": [call, "junk"]}) == [call]


def test_expand_replays_every_turn_oldest_first_then_the_new_input() -> None:
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "enc"}
    call = {"id": "fc_1", "type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    first = ([user("what is 6*7?")], output_items(response(reasoning, call)))
    result = {"type": "function_call_output", "call_id": "c1", "output": "42"}
    second = ([result], output_items(response(answer("42", "msg_2"))))
    assert expand([first, second], "thanks") == [
        user("what is 6*7?"),
        reasoning,
        call,
        result,
        answer("42", "msg_2"),
        user("thanks"),
    ]
    assert expand([], "only") == [user("only")]
    assert expand([first], None) == [user("what is 6*7?"), reasoning, call]


def test_instructions_are_not_carried_over() -> None:
    """A previous response's ``instructions`` are in its object, not in its items: the
    continuation sees only its inputs and outputs (the new request's own instructions are
    the request's, added by its codec)."""
    body = response(answer("Arr.", "msg_1"), instructions="Talk like a pirate.")
    items = expand([([user("hi")], output_items(body))], "again")
    assert "pirate" not in repr(items)
    assert items == [user("hi"), answer("Arr.", "msg_1"), user("again")]


def test_listed_items_have_ids_types_and_content_parts() -> None:
    own = {"id": "msg_own", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
    items = [
        {"role": "developer", "content": "be brief"},  # the easy form: no type, no id
        own,
        {"role": "assistant", "content": "earlier answer"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
    ]
    listed = listed_items("resp_a", items)
    assert [entry["type"] for entry in listed] == ["message"] * 3 + ["function_call_output"]
    assert listed[0]["content"] == [{"type": "input_text", "text": "be brief"}]
    assert listed[0]["role"] == "developer"
    assert listed[1] == {"type": "message", **own}
    assert listed[2]["content"] == [
        {"type": "output_text", "text": "earlier answer", "annotations": []}
    ]
    assert listed[3]["id"].startswith("fco_") and listed[3]["call_id"] == "c1"
    ids = [entry["id"] for entry in listed]
    assert len(set(ids)) == len(ids)
    # The same on every read; another response's items get other ids.
    assert [e["id"] for e in listed_items("resp_a", items)] == ids
    assert item_id("resp_b", 0, items[0]) != ids[0]
    assert items[0] == {"role": "developer", "content": "be brief"}  # not changed in place


def _items(count: int) -> list[dict[str, Any]]:
    return [{"id": f"msg_{i}", "type": "message"} for i in range(count)]


def test_page_is_newest_first_by_default_and_pages_with_after() -> None:
    items = _items(5)
    first = page(items, after=None, limit=2, order="desc")
    assert [i["id"] for i in first["data"]] == ["msg_4", "msg_3"]
    assert first["object"] == "list"
    assert (first["first_id"], first["last_id"], first["has_more"]) == ("msg_4", "msg_3", True)
    second = page(items, after=first["last_id"], limit=2, order="desc")
    assert [i["id"] for i in second["data"]] == ["msg_2", "msg_1"]
    last = page(items, after=second["last_id"], limit=2, order="desc")
    assert [i["id"] for i in last["data"]] == ["msg_0"] and last["has_more"] is False
    ascending = page(items, after="msg_1", limit=10, order="asc")
    assert [i["id"] for i in ascending["data"]] == ["msg_2", "msg_3", "msg_4"]
    assert ascending["has_more"] is False


def test_an_empty_page_and_an_unknown_after() -> None:
    empty = page([], after=None, limit=20, order="desc")
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    with pytest.raises(ValueError, match="msg_9"):
        page(_items(3), after="msg_9", limit=20, order="asc")


@given(
    count=st.integers(0, 30),
    limit=st.integers(1, 100),
    order=st.sampled_from(["asc", "desc"]),
)
def test_paging_to_the_end_lists_every_item_once_in_order(
    count: int, limit: int, order: Any
) -> None:
    items = _items(count)
    seen: list[str] = []
    after = None
    while True:
        got = page(items, after=after, limit=limit, order=order)
        seen += [i["id"] for i in got["data"]]
        if not got["has_more"]:
            break
        after = got["last_id"]
    expected = [i["id"] for i in items]
    assert seen == (expected if order == "asc" else expected[::-1])
