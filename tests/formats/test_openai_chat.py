"""The OpenAI chat helpers and the SSE splitter: pure functions, no I/O."""

from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airelay.formats.openai_chat import (
    ChunkRewriter,
    Usage,
    check_request,
    rename_model,
    usage_from,
)
from airelay.formats.sse import BlockAligner, event_bounds, parse_event, split_events


def test_aligner_cuts_blocks_on_event_boundaries_across_chunks_and_crlf() -> None:
    aligner = BlockAligner()
    assert aligner.feed(b'data: {"a"') == b""
    assert aligner.feed(b": 1}\n\ndata: [DO") == b'data: {"a": 1}\n\n'
    assert aligner.feed(b"NE]\r\n\r\n") == b"data: [DONE]\r\n\r\n"
    assert aligner.rest() == b""
    aligner.feed(b"data: 1\n\ndata: 2")
    assert aligner.rest() == b"data: 2"


def test_split_and_parse_events() -> None:
    block = b"event: e\r\ndata: a\r\ndata: b\r\n\r\n: keep-alive\n\ndata: x\n\n"
    assert [parse_event(e) for e in split_events(block)] == [
        ("e", b"a\nb"),
        (None, None),
        (None, b"x"),
    ]


def test_event_bounds_finds_the_event_holding_a_byte() -> None:
    block = b'data: a\n\ndata: {"usage":{}}\n\ndata: [DONE]\n\n'
    start, end = event_bounds(block, block.find(b"usage"))
    assert block[start:end] == b'data: {"usage":{}}\n\n'
    crlf = b"data: a\r\n\r\ndata: b\r\n\r\n"
    start, end = event_bounds(crlf, crlf.find(b"b\r"))
    assert crlf[start:end] == b"data: b\r\n\r\n"


def test_usage_from_openai_and_deepseek_shapes() -> None:
    openai_usage = {
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3},
        }
    }
    assert usage_from(openai_usage) == Usage(10, 5, 4, 3)
    deepseek = {
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 6}
    }
    assert usage_from(deepseek) == Usage(10, 2, 6, 0)
    assert usage_from({"usage": None}) is None


def test_rename_model_only_touches_the_model_field() -> None:
    data = b'{"model":"gpt-4.1","content":"\\"model\\":\\"gpt-4.1\\""}'
    renamed = rename_model(data, b'"gpt-4.1"', b'"openai/gpt-4.1"')
    assert orjson.loads(renamed)["model"] == "openai/gpt-4.1"
    assert orjson.loads(renamed)["content"] == '"model":"gpt-4.1"'


def test_chunk_rewriter_strips_usage_chunk_when_not_asked() -> None:
    rewriter = ChunkRewriter("up", "pub", strip_usage=True)
    chunk = b'{"model":"up","choices":[{"delta":{"content":"x"}}],"usage":null}'
    assert orjson.loads(rewriter.rewrite(chunk) or b"")["model"] == "pub"
    usage_chunk = b'{"model":"up","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}'
    assert rewriter.rewrite(usage_chunk) is None
    assert rewriter.usage == Usage(3, 4)
    keeping = ChunkRewriter("up", "up", strip_usage=False)
    assert keeping.rewrite(usage_chunk) == usage_chunk


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "JSON object"),
        ({"messages": [{"role": "user"}]}, "'model'"),
        ({"model": "m", "messages": "hi"}, "'messages'"),
        ({"model": "m", "messages": [{"role": "user"}], "stream": 1}, "'stream'"),
    ],
)
def test_check_request_rejects(payload: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_request(payload)


def test_check_request_accepts() -> None:
    assert check_request({"model": "m", "messages": [{"role": "user"}], "stream": True}) == (
        "m",
        True,
    )
    assert check_request({"model": "m", "messages": [{"role": "user"}], "stream": None}) == (
        "m",
        False,
    )


_EVENT = st.binary(min_size=1, max_size=30).map(
    lambda raw: b"data: " + raw.replace(b"\n", b"").replace(b"\r", b"")
)


@given(
    events=st.lists(st.tuples(_EVENT, st.sampled_from([b"\n\n", b"\r\n\r\n"])), min_size=1),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=8),
)
def test_aligner_and_bounds_agree_with_a_naive_reading(
    events: list[tuple[bytes, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(event + end for event, end in events)
    edges = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    aligner = BlockAligner()
    blocks = [aligner.feed(stream[a:b]) for a, b in itertools.pairwise(edges)]
    assert b"".join(blocks) + aligner.rest() == stream
    for block in blocks:
        assert not block or block.endswith((b"\n\n", b"\r\n\r\n"))
    # Each byte of an event's fields lies in the event a naive walk assigns it to.
    offset = 0
    for event, end in events:
        whole = event + end
        for pos in (offset, offset + len(event) // 2, offset + len(event) - 1):
            assert event_bounds(stream, pos) == (offset, offset + len(whole))
        offset += len(whole)
