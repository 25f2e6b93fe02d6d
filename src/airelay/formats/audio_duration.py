"""How long an uploaded audio file plays, read from its own headers (mutagen: WAV, MP3,
FLAC, Ogg, MP4/M4A, AAC...), never taken from the client's word.

Transcriptions are billed by the second, so the duration is the price's quantity: a file
whose format cannot be read, or that claims no length, is refused (400) rather than billed
as nothing. The bytes are read in place through a read-only file over a ``memoryview``.
"""

from __future__ import annotations

import io
import math
from typing import Any

import mutagen

# The longest audio a transcription takes: OpenAI caps uploads at 25 MB, and no format the
# upstreams accept plays longer than a day in that. A header claiming more is not believed.
MAX_SECONDS = 24 * 3600


class _View(io.RawIOBase):
    """A seekable, read-only file over bytes the caller keeps (no copy)."""

    def __init__(self, data: memoryview, name: str) -> None:
        self._data = data
        self._position = 0
        self.name = name  # what mutagen reads to break ties between formats

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._data)}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        chunk = self._data[self._position : self._position + len(buffer)]
        size = len(chunk)
        buffer[:size] = chunk
        self._position += size
        return size


def audio_seconds(data: memoryview, filename: str | None) -> int:
    """The file's duration in whole seconds, rounded up; raises ``ValueError`` (a 400
    message) for a file whose format or length cannot be read."""
    try:
        audio = mutagen.File(io.BufferedReader(_View(data, filename or "upload")))
    except Exception as exc:  # mutagen raises its own errors (and struct's) for bad headers
        raise ValueError(_UNREADABLE) from exc
    length = getattr(getattr(audio, "info", None), "length", None)
    if not isinstance(length, int | float) or not math.isfinite(length) or length <= 0:
        raise ValueError(_UNREADABLE)
    if length > MAX_SECONDS:
        raise ValueError("the audio file claims a duration longer than a day")
    return math.ceil(length)


_UNREADABLE = (
    "the audio file's format or duration cannot be read (supported: wav, mp3, flac, ogg, "
    "opus, m4a, mp4, aac)"
)
