"""The codec of each wire format, by name."""

from __future__ import annotations

from airelay.formats.anthropic_codec import CODEC as ANTHROPIC
from airelay.formats.codec import Codec
from airelay.formats.gemini_codec import CODEC as GEMINI
from airelay.formats.openai_codec import CODEC as OPENAI

CODECS: dict[str, Codec] = {"openai": OPENAI, "anthropic": ANTHROPIC, "gemini": GEMINI}


def codec(name: str) -> Codec:
    return CODECS[name]
