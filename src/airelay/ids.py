"""Identifiers: prefixed random ids for records, and request ids."""

from __future__ import annotations

import os


def new_id(prefix: str) -> str:
    """``usr_3f9a...`` style id: a type prefix and 96 random bits."""
    return f"{prefix}_{os.urandom(12).hex()}"


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()
