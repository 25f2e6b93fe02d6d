"""Rerank requests checked, usage read wherever each upstream puts it, and DashScope's
native rerank translated both ways."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from airelay.formats import rerank, siliconflow_rerank, viking_rerank
from airelay.formats.dashscope_rerank import BRIDGE
from airelay.formats.usage import Usage

GOOD = {"model": "rerank-v1", "query": "q", "documents": ["a", {"text": "b"}]}


@dataclass
class Req:
    """What a format reads of the relay's call."""

    payload: dict[str, Any]
    model: str = "rerank-v1"
    stream: bool = False
    wants_usage: bool = False
    body: bytes = field(default=b"")

    def request_ir(self) -> Any:
        raise AssertionError("a rerank has no IR")


def test_a_valid_request_names_its_model() -> None:
    assert rerank.check_request(GOOD) == "rerank-v1"
    assert rerank.check_request({**GOOD, "top_n": 1, "return_documents": True}) == "rerank-v1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": ""}, "'model'"),
        ({"query": None}, "'query'"),
        ({"query": ""}, "'query'"),
        ({"documents": []}, "'documents'"),
        ({"documents": "a"}, "'documents'"),
        ({"documents": [1]}, "'documents' items"),
        ({"documents": [{"title": "x"}]}, "'documents' items"),
        ({"documents": ["a"] * 1001}, "at most 1000"),
        ({"top_n": 0}, "'top_n'"),
        ({"top_n": True}, "'top_n'"),
        ({"top_n": 1.5}, "'top_n'"),
        ({"return_documents": "yes"}, "'return_documents'"),
    ],
)
def test_bad_requests_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rerank.check_request({**GOOD, **change})


def test_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        rerank.check_request(["a"])


@pytest.mark.parametrize(
    ("answer", "tokens"),
    [
        ({"usage": {"total_tokens": 12}}, 12),  # Jina
        ({"usage": {"prompt_tokens": 7, "total_tokens": 7}}, 7),  # vLLM-style
        ({"meta": {"tokens_used": 42}}, 42),  # the seed
        ({"meta": {"billed_units": {"input_tokens": 5, "search_units": 1}}}, 5),  # Cohere
    ],
)
def test_usage_wherever_it_is(answer: dict[str, Any], tokens: int) -> None:
    assert rerank.usage_of(answer) == Usage(prompt_tokens=tokens)


def test_search_units_alone_count_no_tokens() -> None:
    """Cohere's search units say nothing of tokens: the call is counted offline instead."""
    assert rerank.usage_of({"meta": {"billed_units": {"search_units": 1}}}) is None
    assert rerank.usage_of({"usage": {"total_tokens": -1}}) is None
    assert rerank.usage_of({"usage": {"total_tokens": True}}) is None


def test_body_passes_through_and_renames() -> None:
    body = orjson.dumps({"model": "up", "results": [], "usage": {"total_tokens": 3}})
    out, usage, _doc = rerank.BODY.whole_usage(body, "up", "public")
    assert orjson.loads(out)["model"] == "public" and usage == Usage(prompt_tokens=3)
    with pytest.raises(ValueError, match="results"):
        rerank.BODY.whole_usage(b'{"data": []}', "up", "public")
    request = Req(GOOD, body=orjson.dumps(GOOD))
    assert rerank.BODY.same_format_body(request, "rerank-v1") == request.body
    assert orjson.loads(rerank.BODY.same_format_body(request, "jina"))["model"] == "jina"


def test_estimate_text_reads_the_query_once_per_document() -> None:
    assert rerank.prompt_text({"query": "q", "documents": ["a", {"text": "b"}]}) == "q\na\nq\nb"


def test_with_usage_fills_both_places() -> None:
    document = orjson.loads(rerank.with_usage({"results": []}, Usage(prompt_tokens=9)))
    assert document["usage"] == {"total_tokens": 9} and document["meta"] == {"tokens_used": 9}


def test_dashscope_request() -> None:
    payload = {**GOOD, "top_n": 1, "return_documents": True}
    sent = orjson.loads(BRIDGE.request(Req(payload), "gte-rerank"))
    assert sent == {
        "model": "gte-rerank",
        "input": {"query": "q", "documents": ["a", "b"]},
        "parameters": {"return_documents": True, "top_n": 1},
    }
    sent = orjson.loads(BRIDGE.request(Req(GOOD), "gte-rerank"))
    assert sent["parameters"] == {"return_documents": False}


def test_dashscope_answer() -> None:
    upstream = {
        "output": {
            "results": [
                {"index": 1, "relevance_score": 0.9, "document": {"text": "b"}},
                {"index": 0, "relevance_score": 0.1},  # DashScope may leave the text out
            ]
        },
        "usage": {"total_tokens": 11},
        "request_id": "abc",
    }
    payload = {**GOOD, "return_documents": True}
    body, usage, _ = BRIDGE.answer(orjson.dumps(upstream), Req(payload), "public")
    assert usage == Usage(prompt_tokens=11)
    assert orjson.loads(body) == {
        "id": "abc",
        "model": "public",
        "results": [
            {"index": 1, "relevance_score": 0.9, "document": {"text": "b"}},
            {"index": 0, "relevance_score": 0.1, "document": {"text": "a"}},
        ],
        "usage": {"total_tokens": 11},
        "meta": {"tokens_used": 11},
    }
    body, _, _ = BRIDGE.answer(orjson.dumps(upstream), Req(GOOD), "public")
    assert all("document" not in r for r in orjson.loads(body)["results"])


@pytest.mark.parametrize(
    "answer",
    [
        {"output": {}},
        {"output": {"results": [{"index": "0", "relevance_score": 1}]}},
        {"output": {"results": [3]}},
        [],
    ],
)
def test_dashscope_answer_of_the_wrong_shape(answer: Any) -> None:
    with pytest.raises(ValueError):
        BRIDGE.answer(orjson.dumps(answer), Req(GOOD), "public")


def test_dashscope_error_in_openai_shape() -> None:
    body = orjson.dumps({"code": "InvalidParameter", "message": "bad", "request_id": "x"})
    assert orjson.loads(BRIDGE.error(400, body)) == {
        "error": {"message": "bad", "type": "invalid_request_error", "code": "InvalidParameter"}
    }
    assert orjson.loads(BRIDGE.error(500, b"oops"))["error"]["type"] == "api_error"


@pytest.mark.parametrize(
    ("answer", "tokens"),
    [
        ({"meta": {"billed_units": {"input_tokens": 9, "search_units": 1}}}, 9),
        ({"meta": {"tokens": {"input_tokens": 8, "output_tokens": 0}}}, 8),
        ({"tokens": {"input_tokens": 7, "output_tokens": 0}}, 7),
    ],
)
def test_siliconflow_usage_in_each_documented_place(answer: dict[str, Any], tokens: int) -> None:
    assert siliconflow_rerank.usage_of(answer) == Usage(prompt_tokens=tokens)
    assert siliconflow_rerank.usage_of({"meta": {"billed_units": {"search_units": 1}}}) is None


def test_siliconflow_request_sends_documents_as_strings() -> None:
    payload = {**GOOD, "top_n": 1, "instruction": "rank", "user": "dropped"}
    sent = orjson.loads(siliconflow_rerank.BRIDGE.request(Req(payload), "BAAI/bge"))
    assert sent == {
        "model": "BAAI/bge",
        "query": "q",
        "documents": ["a", "b"],
        "top_n": 1,
        "instruction": "rank",
    }


@pytest.mark.parametrize(
    "result",
    [{"index": 2, "relevance_score": 0.5}, {"index": True, "relevance_score": 0.5}, {"index": 0}],
)
def test_a_result_of_the_wrong_shape_is_refused(result: dict[str, Any]) -> None:
    answer = orjson.dumps({"results": [result]})
    with pytest.raises(ValueError, match="index or score"):
        siliconflow_rerank.BRIDGE.answer(answer, Req(GOOD), "public")


@pytest.mark.parametrize(
    "answer",
    [
        {"code": 0, "data": {"scores": [0.5], "token_usage": 3}},  # one score, two documents
        {"code": 1000030, "message": "failed to MaasInference", "data": None},
        {"code": 0, "data": {"scores": [0.5, "high"]}},
        {"code": 0},
    ],
)
def test_a_viking_answer_of_the_wrong_shape_is_refused(answer: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        viking_rerank.BRIDGE.answer(orjson.dumps(answer), Req(GOOD), "public")


def test_viking_scores_are_ranked_and_cut_by_the_gateway() -> None:
    payload = {**GOOD, "documents": ["a", "b", "c"], "top_n": 2}
    upstream = {"code": 0, "request_id": "r1", "data": {"scores": [0.1, 0.9, 0.9]}}
    body, usage, _ = viking_rerank.BRIDGE.answer(orjson.dumps(upstream), Req(payload), "public")
    assert usage is None  # none reported: counted offline by the relay
    assert orjson.loads(body)["results"] == [
        {"index": 1, "relevance_score": 0.9},
        {"index": 2, "relevance_score": 0.9},
    ]
