"""Substring search for the bytes a stream relays.

Every block a stream passes on is searched for a few marks several times over: its
format's triggers (where the usage is), the end mark, the error mark, and each of the
channel's keys (``relay.passthrough``, ``relay.scrub``). CPython's ``bytes.find`` reads
such a mark at ~0.4 ns a byte (its skip test is a 64-bit filter that JSON's own quotes and
letters keep passing): ~2 µs for each mark over the 4.6 KB of ``make bench``'s stream, so
8 µs a stream for an OpenAI stream's four marks, ~1.6 ns for each byte a long answer
streams. StringZilla's SIMD search reads the same bytes more than ten times faster, and
still pays on a single short event (``bench/search.py``: the four marks and a key, 9.5 ->
0.7 µs for that stream as one block, 19 -> 5 µs for it event by event).

``count`` is the same for counting (the line feeds of a block of events, which
``bytes.count`` reads a byte at a time: 1.6 -> 0.3 µs for that stream).

``find`` and ``count`` are StringZilla's where its wheel is installed (a dependency), else
``bytes.find`` and ``bytes.count``: the same answers either way, for every haystack, mark
and start (the property tests compare them). A one-byte ``find`` stays with
``bytes.find``, which takes ``memchr`` for it already.
"""

from __future__ import annotations

from collections.abc import Callable


def builtin_find(haystack: bytes, needle: bytes, start: int = 0) -> int:
    return haystack.find(needle, start)


def builtin_count(haystack: bytes, needle: bytes) -> int:
    return haystack.count(needle)


def _simd() -> tuple[Callable[[bytes, bytes, int], int], Callable[[bytes, bytes], int]] | None:
    try:
        from stringzilla import count as simd_count
        from stringzilla import find as simd_find
    except ImportError:  # a platform with no wheel: the builtin search
        return None
    return simd_find, simd_count


#: ``haystack.find(needle, start)`` for a needle of two bytes or more, and
#: ``haystack.count(needle)`` (non-overlapping, as ``bytes.count`` counts).
find, count = _simd() or (builtin_find, builtin_count)
