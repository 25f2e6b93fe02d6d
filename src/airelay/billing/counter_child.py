"""The counting process (see ``counter``): reads ``[encoding, [text, ...]]`` frames on
standard input, answers each with its counts on standard output, and exits at end of input.

It imports the tokenizer and nothing of the server, so it starts in about 0.3 s plus the
first encoding's load; each encoding loads on its first request.
"""

from __future__ import annotations

import sys
from typing import BinaryIO, Literal

import msgspec

from airelay.billing import tokenizer
from airelay.billing.counter import HEADER, frame

_decode = msgspec.msgpack.Decoder(tuple[Literal["o200k_base", "cl100k_base"], list[str]]).decode
_encode = msgspec.msgpack.Encoder().encode


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    while True:
        header = _read_exactly(stdin, HEADER.size)
        if header is None:
            return
        body = _read_exactly(stdin, HEADER.unpack(header)[0])
        if body is None:
            return
        answer: object
        try:
            name, texts = _decode(body)
            answer = [tokenizer.count(text, name) for text in texts]
        except (msgspec.DecodeError, tokenizer.TokenizerUnavailable) as exc:
            answer = {"error": str(exc)}
        stdout.write(frame(_encode(answer)))
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
