"""Snapshot records for tests that need one without a database: every field a plain
default, the test naming only what it is about."""

from __future__ import annotations

import uuid
from typing import Any

from airelay.store.snapshot import ChannelRecord


def channel_record(**fields: Any) -> ChannelRecord:
    """An active OpenAI channel serving model ``m`` (a unique id unless given)."""
    values: dict[str, Any] = {
        "id": "ch_" + uuid.uuid4().hex,
        "name": "c",
        "type": "openai",
        "base_url": "http://upstream.test/v1",
        "api_keys": ("k",),
        "models": frozenset({"m"}),
        "model_mapping": {},
        "priority": 1,
        "weight": 1,
        "status": "active",
        "timeout": None,
    }
    values.update(fields)
    return ChannelRecord(**values)
