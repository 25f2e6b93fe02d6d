"""Offline token estimates, for calls whose upstream reports no usage (a stream the client
abandoned) and for the worst case a call may reserve.

The approximation: one token per four ASCII characters, one per non-ASCII character (CJK
text is close to one token per character in the common tokenizers). It errs towards more
tokens for English prose, fewer for code-heavy text.
"""

from __future__ import annotations


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    ascii_chars = len(text.encode("ascii", "ignore"))
    return -(-ascii_chars // 4) + (len(text) - ascii_chars)


def prompt_upper_bound(body_bytes: int) -> int:
    """A generous bound on the prompt tokens of a request body of ``body_bytes`` bytes:
    three bytes per token covers CJK text (three UTF-8 bytes, about one token per char)
    and over-covers English (about four characters per token)."""
    return -(-body_bytes // 3)
