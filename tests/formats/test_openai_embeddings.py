"""The OpenAI embeddings format: request checks, and the ``Body`` the relay passes through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from airelay.formats import openai_embeddings
from airelay.formats.names import WireFormat
from airelay.formats.registry import body
from airelay.formats.usage import Usage

BODY = body(WireFormat.OPENAI_EMBEDDINGS)


@dataclass
class Call:
    payload: dict[str, Any]
    model: str = "m"
    stream: bool = False
    wants_usage: bool = False
    body: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.body = orjson.dumps(self.payload)

    def request_ir(self) -> Any:
        raise AssertionError("an embeddings call is never decoded to the chat IR")


@pytest.mark.parametrize(
    "given",
    ["a", ["a", "b"], [0, 1, 100_000], [[1, 2], [3]], ["x"] * 2048],
)
def test_valid_inputs(given: Any) -> None:
    payload = {"model": "m", "input": given, "encoding_format": "base64", "dimensions": 8}
    assert openai_embeddings.check_request(payload) == "m"


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"input": "a"},
        {"model": "", "input": "a"},
        {"model": "m"},
        {"model": "m", "input": None},
        {"model": "m", "input": ""},
        {"model": "m", "input": []},
        {"model": "m", "input": 5},
        {"model": "m", "input": [True]},
        {"model": "m", "input": [1, 1.5]},
        {"model": "m", "input": [[1], "a"]},
        {"model": "m", "input": ["a"] * 2049},
        {"model": "m", "input": "a", "encoding_format": "FLOAT"},
        {"model": "m", "input": "a", "dimensions": -1},
        {"model": "m", "input": "a", "dimensions": 1.0},
        {"model": "m", "input": "a", "user": ["u"]},
    ],
)
def test_invalid_requests(payload: Any) -> None:
    with pytest.raises(ValueError):
        openai_embeddings.check_request(payload)


def test_same_format_body_renames_only_when_it_must() -> None:
    call = Call({"model": "m", "input": ["a"], "vendor": {"x": 1}})
    assert BODY.same_format_body(call, "m") is call.body
    assert orjson.loads(BODY.same_format_body(call, "up")) == {
        "model": "up",
        "input": ["a"],
        "vendor": {"x": 1},
    }


def test_priced_on_input_alone() -> None:
    assert BODY.output_bounds(Call({"model": "m", "input": "a"})) == (0, 1)


def test_prompt_text_counts_each_token_id() -> None:
    assert BODY.prompt_text(Call({"model": "m", "input": ["ab", "cd"]})) == "ab\ncd"
    assert BODY.prompt_text(Call({"model": "m", "input": [[1, 2], [3]]})) == "1 2\n3"
    assert BODY.prompt_text(Call({"model": "m", "input": [7, 8]})).split() == ["7", "8"]


def test_whole_usage_renames_and_reads_usage() -> None:
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
        "model": "up",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    out, usage, document = BODY.whole_usage(orjson.dumps(answer), "up", "public")
    assert orjson.loads(out)["model"] == "public" and document["model"] == "public"
    assert usage == Usage(prompt_tokens=7)
    same = orjson.dumps(answer)
    assert BODY.whole_usage(same, "up", "up")[0] is same
    # total_tokens alone, then none at all (the relay estimates).
    answer["usage"] = {"total_tokens": 5}
    assert BODY.whole_usage(orjson.dumps(answer), "up", "up")[1] == Usage(prompt_tokens=5)
    del answer["usage"]
    assert BODY.whole_usage(orjson.dumps(answer), "up", "up")[1] is None
    assert BODY.answer_text(answer) == ""


@pytest.mark.parametrize("raw", [b"[1]", b"{}", b'{"data": {}}', b"not json"])
def test_answers_that_are_not_embeddings_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        BODY.whole_usage(raw, "up", "public")
