"""Identifiers: prefixed ids for records, and request ids.

Ids are a per-process random prefix (48 bits) and a counter: unique across processes and
restarts, cheap (no system call per id), and ordered within a process. They are not
secrets; keys are made elsewhere, from ``secrets``.
"""

from __future__ import annotations

import itertools
import os

_PROCESS = os.urandom(6).hex()
_counter = itertools.count(int.from_bytes(os.urandom(3), "big") << 16)


def new_id(prefix: str) -> str:
    """``usr_3f9a1c2b7d4e0000a1b2c3`` style id: a type prefix, the process prefix, a count."""
    return f"{prefix}_{_PROCESS}{next(_counter):012x}"


def new_request_id() -> str:
    return f"req_{_PROCESS}{next(_counter):012x}"
