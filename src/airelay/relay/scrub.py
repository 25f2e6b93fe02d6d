"""Remove upstream URLs and keys from text that is passed on to clients."""

from __future__ import annotations

import re
from collections.abc import Iterable

_URL = re.compile(r"\b(?:https?|wss?)://[^\s\"'<>]+", re.IGNORECASE)
# Key-like tokens, also partly masked ones (``sk-abc...wxyz``, ``sk-***``).
_KEYLIKE = re.compile(r"\b(?:sk|pk|rk|key|ak)-[A-Za-z0-9_*.\-]{3,}", re.IGNORECASE)
_BEARER = re.compile(r"\bBearer\s+\S+", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    text = _URL.sub("[upstream]", text)
    text = _BEARER.sub("Bearer [redacted]", text)
    return _KEYLIKE.sub("[redacted]", text)
