"""Remove upstream URLs and keys from text that is passed on to clients."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from airelay.formats.search import find

_URL = re.compile(r"\b(?:https?|wss?)://[^\s\"'<>]+", re.IGNORECASE)
# Key-like tokens, also partly masked ones (``sk-abc...wxyz``, ``sk-***``).
_KEYLIKE = re.compile(r"\b(?:sk|pk|rk|key|ak)-[A-Za-z0-9_*.\-]{3,}", re.IGNORECASE)
_BEARER = re.compile(r"\bBearer\s+\S+", re.IGNORECASE)
REDACTED = "[redacted]"
# Marks an event that may be an error in any of the three formats (a JSON key or value;
# in model text the quotes would be escaped).
ERROR_MARK = b'"error"'


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _URL.sub("[upstream]", text)
    text = _BEARER.sub("Bearer [redacted]", text)
    return _KEYLIKE.sub(REDACTED, text)


class StreamScrubber:
    """Keeps a channel's secrets out of a stream relayed to the client.

    ``block`` is for every block of bytes that goes out: a SIMD search per key
    (and per JSON spelling of it), replacing only when one is found, so model text is
    otherwise passed as it came. ``error_event`` is for events that may be errors: those
    get the full scrub (keys, URLs, key-like tokens, bearer tokens) of every string in them.
    One per channel and snapshot (``ChannelRecord.cached``): nothing is built per stream.
    """

    __slots__ = ("_needles", "_secrets")

    def __init__(self, keys: Sequence[str], base_url: str) -> None:
        self._secrets = (*keys, base_url)
        needles: set[bytes] = set()
        for key in keys:
            if key:
                raw = key.encode()
                needles.add(raw)
                needles.add(orjson.dumps(key)[1:-1])  # as a JSON string holds it
                needles.add(raw.replace(b"/", b"\\/"))  # as some JSON encoders escape it
        # Longest first, so that a key that contains another is replaced whole.
        self._needles = tuple(sorted(needles, key=len, reverse=True))

    def block(self, raw: bytes) -> bytes:
        for needle in self._needles:
            if find(raw, needle, 0) >= 0:  # (SIMD: see formats.search)
                raw = raw.replace(needle, REDACTED.encode())
        return raw

    def text(self, message: str) -> str:
        return scrub(message, self._secrets)

    def error_event(self, name: str | None, data: bytes) -> bytes:
        """``data`` with every string scrubbed when the event is an error (an ``error``
        event, or a JSON object with an ``error`` member or ``"type": "error"``);
        otherwise ``data`` itself."""
        if name != "error" and find(data, ERROR_MARK, 0) < 0:
            return data
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            if name != "error":
                return data
            return self.text(data.decode("utf-8", "replace")).encode()
        is_error = isinstance(document, dict) and (
            "error" in document or document.get("type") == "error"
        )
        if name != "error" and not is_error:
            return data
        return orjson.dumps(self._scrubbed(document))

    def _scrubbed(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self._scrubbed(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._scrubbed(item) for item in value]
        return value
