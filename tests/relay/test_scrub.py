"""The stream scrubber: keys out of every block, error events fully scrubbed, everything
else passed as the same bytes."""

from __future__ import annotations

import orjson

from airelay.relay.scrub import StreamScrubber

KEY = "sk-unit-key/with+odd=chars-0123456789"
BASE = "https://upstream.example/v1"


def scrubber() -> StreamScrubber:
    return StreamScrubber((KEY, "sk-other-9876543210"), BASE)


def test_block_without_a_key_is_the_same_object() -> None:
    block = b'data: {"choices":[{"delta":{"content":"sk-looks-like-a-key but is text"}}]}\n\n'
    assert scrubber().block(block) is block


def test_block_loses_every_spelling_of_the_key() -> None:
    escaped = KEY.replace("/", "\\/")
    block = (f'data: {{"a":"{KEY}","b":"{escaped}","c":"sk-other-9876543210"}}\n\n').encode()
    out = scrubber().block(block)
    assert b"0123456789" not in out and b"9876543210" not in out
    assert out.count(b"[redacted]") == 3


def test_error_events_are_scrubbed_in_depth() -> None:
    data = orjson.dumps(
        {"error": {"message": f"bad key {KEY[:12]}... at {BASE}/chat", "details": [KEY]}}
    )
    out = orjson.loads(scrubber().error_event(None, data))
    text = orjson.dumps(out).decode()
    assert KEY not in text and KEY[:12] not in text and "upstream.example" not in text
    named = scrubber().error_event("error", b"not json: " + KEY.encode())
    assert KEY.encode() not in named


def test_other_events_pass_as_the_same_bytes() -> None:
    for data in (
        b'{"choices":[{"delta":{"content":"an \\"error\\" in text at https://x.example"}}]}',
        b'{"type":"content_block_delta","delta":{"text":"sk-abcdef is no key of ours"}}',
        b'{"finish_reason":"error","note":"https://x.example"}',
    ):
        assert scrubber().error_event(None, data) is data
