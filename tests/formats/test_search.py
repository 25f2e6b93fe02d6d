"""``formats.search`` answers as ``bytes.find`` and ``bytes.count`` do, for any bytes, mark
and start; with StringZilla installed (a dependency) it is that library's, not the
builtin."""

from __future__ import annotations

import importlib
import sys

import pytest
import stringzilla
from hypothesis import given
from hypothesis import strategies as st

from airelay.formats import search
from airelay.formats.search import count, find

# Few distinct bytes, so that marks are found, found twice and found in part.
_ALPHABET = b'"{}:[] \nadeDNOEru'
_bytes = st.lists(st.sampled_from(_ALPHABET), max_size=300).map(bytes)
_marks = st.lists(st.sampled_from(_ALPHABET), min_size=2, max_size=12).map(bytes)


def test_the_simd_search_is_the_one_used() -> None:
    assert find is stringzilla.find
    assert count is stringzilla.count


@given(_bytes, _marks, st.integers(min_value=0, max_value=320))
def test_finds_what_bytes_find_finds(haystack: bytes, mark: bytes, start: int) -> None:
    assert find(haystack, mark, start) == haystack.find(mark, start)


@given(_bytes, st.lists(st.sampled_from(_ALPHABET), min_size=1, max_size=4).map(bytes))
def test_counts_what_bytes_count_counts(haystack: bytes, mark: bytes) -> None:
    assert count(haystack, mark) == haystack.count(mark)


@given(_bytes, _marks, st.integers(min_value=0, max_value=300))
def test_finds_a_mark_put_anywhere(before: bytes, mark: bytes, at: int) -> None:
    haystack = before[:at] + mark + before[at:]
    assert find(haystack, mark, 0) == haystack.find(mark)
    assert find(haystack, mark, 0) <= min(at, len(before))


def test_the_stream_marks_over_a_real_stream() -> None:
    event = b'data: {"choices":[{"delta":{"content":"\\"error\\" [DONE"}}]}\n\n'
    block = event * 200 + b'data: {"usage":{"prompt_tokens":3}}\n\ndata: [DONE]\n\n'
    for mark in (b'"usage":{', b'"usage": {', b"[DONE]", b'"error"', b"sk-upstream"):
        assert find(block, mark, 0) == block.find(mark)
        assert find(block, mark, 100) == block.find(mark, 100)


def test_the_builtin_answers_the_same() -> None:
    block = b'data: {"a":1}\n\ndata: [DONE]\n\n'
    assert search.builtin_find(block, b"[DONE]", 0) == find(block, b"[DONE]", 0) == 21
    assert search.builtin_find(block, b"[DONE]", 22) == find(block, b"[DONE]", 22) == -1
    assert search.builtin_count(block, b"\n") == count(block, b"\n") == 4


def test_without_the_wheel_the_builtins_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "stringzilla", None)  # as if no wheel were installed
    try:
        reloaded = importlib.reload(search)
        assert reloaded.find is reloaded.builtin_find
        assert reloaded.count is reloaded.builtin_count
        block = b'data: {"usage":{"prompt_tokens":3}}\n\n'
        assert reloaded.find(block, b'"usage":{', 0) == 7
        assert reloaded.count(block, b"\n") == 2
    finally:
        monkeypatch.undo()
        importlib.reload(search)
    assert search.find is stringzilla.find
