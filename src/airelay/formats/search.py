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

``find`` is that search where the wheel is installed (a dependency), else ``bytes.find``:
the same answer either way, for every haystack, mark and start (the property tests
compare the two). One-byte marks stay with ``bytes.find``, which takes ``memchr`` for
them already.
"""

from __future__ import annotations

from collections.abc import Callable


def builtin_find(haystack: bytes, needle: bytes, start: int = 0) -> int:
    return haystack.find(needle, start)


def _simd() -> Callable[[bytes, bytes, int], int] | None:
    try:
        from stringzilla import find as simd_find
    except ImportError:  # a platform with no wheel: the builtin search
        return None
    found: Callable[[bytes, bytes, int], int] = simd_find
    return found


#: ``haystack.find(needle, start)`` for a needle of two bytes or more.
find: Callable[[bytes, bytes, int], int] = _simd() or builtin_find
