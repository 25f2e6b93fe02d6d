"""AWS event-stream messages (``application/vnd.amazon.eventstream``), as Bedrock's
InvokeModelWithResponseStream sends them: a binary prelude (total length, headers length,
CRC32 of those eight bytes), string headers, the payload, and a CRC32 of all before it.
A model event is a ``chunk`` whose payload is ``{"bytes": "<base64 of the event JSON>"}``.
"""

from __future__ import annotations

import base64
import struct
import zlib

import orjson

STRING = 7  # the header value type of a UTF-8 string


def message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(
        struct.pack("B", len(name))
        + name.encode()
        + struct.pack("!BH", STRING, len(value))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    head = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return head + struct.pack("!I", zlib.crc32(head))


def chunk(event: dict[str, object]) -> bytes:
    """One model event as Bedrock wraps it."""
    payload = orjson.dumps({"bytes": base64.b64encode(orjson.dumps(event)).decode()})
    headers = {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return message(headers, payload)


def exception(kind: str, text: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return message(headers, orjson.dumps({"message": text}))
