"""What translating a stream costs the gateway in-process, per path: a ``Translator`` built
for a call and fed the fake upstream's whole stream (as ``bench/upstream.py`` writes it,
unchunked) in one block, then ended and closed. The request's IR is decoded for each
stream, as a call does.

    .venv/bin/python bench/translate.py [--path responses-to-openai] [--streams 20000]

Prints the best of 5 runs in µs per stream. For a figure the machine's load does not move,
count instructions: run it under ``valgrind --tool=callgrind`` with ``--streams 1000`` and
``--streams 3000`` (and ``--rounds 1``); the difference of the two totals / 2,000 is the
instructions per stream. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson
import upstream

from airelay.formats.client_framing import client_framer
from airelay.formats.framing import deframer
from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.formats.registry import wire
from airelay.relay.call import Call
from airelay.relay.scrub import StreamScrubber
from airelay.relay.streaming import Translator

# The three translated paths of ``make bench``: client format, channel format, stream.
PATHS: dict[str, tuple[WireFormat, WireFormat, list[bytes]]] = {
    "openai-to-anthropic": (WireFormat.OPENAI, WireFormat.ANTHROPIC, upstream.ANTHROPIC_EVENTS),
    "anthropic-to-openai": (WireFormat.ANTHROPIC, WireFormat.OPENAI, upstream.stream_parts(True)),
    "responses-to-openai": (WireFormat.RESPONSES, WireFormat.OPENAI, upstream.stream_parts(True)),
}


def _unchunked(parts: list[bytes]) -> bytes:
    """The SSE bytes the upstream's chunked body carries."""
    out = b""
    for part in parts:
        size, _, rest = part.partition(b"\r\n")
        out += rest[: int(size, 16)]
    return out


def _body(client: WireFormat) -> dict[str, Any]:
    if client is WireFormat.RESPONSES:
        return {"model": "m", "stream": True, "input": "hi", "store": False}
    return {
        "model": "m",
        "stream": True,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }


def one_stream(
    client: WireFormat, channel: WireFormat, data: bytes, scrubber: StreamScrubber
) -> bytes:
    body = _body(client)
    call = Call(
        client=client,
        endpoint=Endpoint.CHAT,
        model="m",
        stream=True,
        body=orjson.dumps(body),
        payload=body,
        ir=None,
        path="/bench",
        request_id="bench",
    )
    framer = client_framer(wire(client).sse, Framing.SSE)
    translator = Translator(call, channel, framer, scrubber, deframer(Framing.SSE), "ch", sse=True)
    out = translator.feed(data)
    rest, _ = translator.end()
    return out + rest + translator.close(None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", choices=sorted(PATHS), default="responses-to-openai")
    ap.add_argument("--streams", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    client, channel, parts = PATHS[args.path]
    data = _unchunked(parts)
    scrubber = StreamScrubber(["sk-upstream-bench"], "http://127.0.0.1:1/v1")  # cached per channel
    best = float("inf")
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.streams):
            one_stream(client, channel, data, scrubber)
        best = min(best, (time.perf_counter() - start) / args.streams)
    print(f"{args.path}: {best * 1e6:.1f} µs per stream (best of {args.rounds} runs)")


if __name__ == "__main__":
    main()
