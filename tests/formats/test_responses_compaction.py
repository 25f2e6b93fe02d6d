"""The Responses compaction shapes: which requests ask for a compaction, what the routed
model is asked, what a compacted answer holds, how a sealed item comes back as its summary
(and an upstream's item stays as it is), and the compaction endpoint as a routing fact."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from airelay.formats import responses_compaction as rc
from airelay.formats.names import DECLARABLE, Endpoint, WireFormat, routable, upstream_endpoint
from airelay.formats.responses_echo import StoredEcho
from airelay.formats.usage import Usage

HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": "read notes.txt"},
    {"type": "function_call", "call_id": "c1", "name": "read", "arguments": '{"p":"notes.txt"}'},
    {"type": "function_call_output", "call_id": "c1", "output": "the code is 4417"},
    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "thinking it over"}]},
    {"role": "assistant", "content": [{"type": "output_text", "text": "It says 4417."}]},
]


def test_a_trigger_must_be_the_last_item() -> None:
    assert rc.triggered({"input": [*HISTORY, {"type": "compaction_trigger"}]})
    assert not rc.triggered({"input": [{"type": "compaction_trigger"}, *HISTORY]})
    assert not rc.triggered({"input": "hi"})
    assert not rc.triggered([])


def test_the_summary_request_carries_the_whole_conversation_as_text() -> None:
    asked = rc.summary_request(
        {"model": "m", "instructions": "be terse", "tools": [{"type": "web_search"}]},
        rc.history([*HISTORY, {"type": "compaction_trigger"}]),
    )
    assert asked["model"] == "m" and asked["stream"] is False and asked["store"] is False
    assert "tools" not in asked  # no tool a chat upstream cannot take
    text = asked["input"][0]["content"][0]["text"]
    for seen in ("be terse", "read notes.txt", '{"p":"notes.txt"}', "4417", "thinking it over"):
        assert seen in text
    assert "compaction_trigger" not in text


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"input": "x"},
        {"model": "m"},
        {"model": "m", "input": 3},
        {"model": "m", "input": "x", "instructions": 1},
        {"model": "m", "input": "x", "stream": True},
        {"model": "m", "input": "x", "previous_response_id": 3},
        {"model": "m", "input": []},
    ],
)
def test_bad_compact_requests_are_refused(payload: Any) -> None:
    with pytest.raises(ValueError):
        rc.check_compact_request(payload)


def test_a_compacted_answer_lists_the_user_messages_then_one_item() -> None:
    users = rc.user_messages(HISTORY)
    assert users == [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "read notes.txt"}],
        }
    ]
    answer = rc.compacted([*users, rc.compaction_item("sealed")], Usage(10, 3), 5)
    assert answer["object"] == "response.compaction" and answer["id"].startswith("resp_")
    assert answer["output"][-1]["type"] == "compaction"
    assert answer["usage"]["input_tokens"] == 10 and answer["usage"]["output_tokens"] == 3


def test_sealed_items_come_back_as_their_summary_and_others_stay() -> None:
    ours = {"type": "compaction", "encrypted_content": "OURS"}
    theirs = {"type": "compaction", "encrypted_content": "upstream-opaque"}
    opened = rc.expand([ours, theirs, *HISTORY], lambda b: "the summary" if b == "OURS" else None)
    assert opened is not None
    assert opened[0]["role"] == "user"
    assert opened[0]["content"][0]["text"] == rc.SUMMARY_PREFACE + "the summary"
    assert opened[1] == theirs and opened[2:] == HISTORY
    assert rc.expand([theirs, *HISTORY], lambda b: None) is None


def test_an_unopenable_item_raises() -> None:
    def refuse(blob: str) -> str | None:
        raise ValueError("changed")

    with pytest.raises(ValueError):
        rc.expand([{"type": "compaction", "encrypted_content": "x"}], refuse)
    with pytest.raises(ValueError):
        rc.expand([{"type": "compaction", "encrypted_content": 5}], lambda b: None)


def test_the_stream_of_a_compaction_is_complete() -> None:
    response = {"id": "resp_1", "status": "completed", "output": [rc.compaction_item("s")]}
    blocks = rc.events(response).split(b"\n\n")
    names = [b.split(b"\n")[0] for b in blocks if b]
    assert names == [
        b"event: response.created",
        b"event: response.in_progress",
        b"event: response.output_item.added",
        b"event: response.output_item.done",
        b"event: response.completed",
    ]
    last = orjson.loads(blocks[-2].split(b"\n")[1][6:])
    assert last["response"]["output"][0]["encrypted_content"] == "s"


def test_compaction_comes_with_the_responses_endpoint_and_is_never_listed() -> None:
    assert Endpoint.COMPACT not in DECLARABLE
    assert Endpoint.COMPACT in routable([Endpoint.RESPONSES])
    assert Endpoint.COMPACT not in routable([Endpoint.CHAT])
    formats = {
        Endpoint.CHAT: WireFormat.OPENAI,
        Endpoint.RESPONSES: WireFormat.RESPONSES,
        Endpoint.COMPACT: WireFormat.RESPONSES_COMPACT,
    }
    served = {Endpoint.RESPONSES}
    assert (
        upstream_endpoint(Endpoint.COMPACT, WireFormat.RESPONSES_COMPACT, served, formats)
        is Endpoint.COMPACT
    )
    with pytest.raises(LookupError):
        upstream_endpoint(Endpoint.COMPACT, WireFormat.RESPONSES_COMPACT, {Endpoint.CHAT}, formats)


def test_stored_echo_rewrites_lifecycle_events_only() -> None:
    created = b"event: response.created\ndata: " + orjson.dumps(
        {
            "type": "response.created",
            "response": {"id": "r", "store": False, "previous_response_id": None},
        }
    )
    # The model's text may hold what looks like a response object: it is left alone.
    text = orjson.dumps({"type": "response.output_text.delta", "delta": '"response":{"a":1}'})
    delta = b"event: response.output_text.delta\ndata: " + text
    block = created + b"\n\n" + delta + b"\n\n"
    out = StoredEcho(store=True, previous_response_id="resp_0").block(block)
    first, second, rest = out.split(b"\n\n")
    event = orjson.loads(first.split(b"\n")[1][6:])
    assert event["response"]["store"] is True
    assert event["response"]["previous_response_id"] == "resp_0"
    assert second == delta and rest == b""
    assert StoredEcho(store=True, previous_response_id=None).block(delta) == delta
