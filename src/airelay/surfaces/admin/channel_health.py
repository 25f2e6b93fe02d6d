"""A channel's health as the admin API shows it: ``{state, reason, until, keys}``.

``state`` is ``closed`` (calls go to it), ``open`` (skipped until ``until``, ISO 8601; then
one call probes it) or ``half_open`` (the next call probes it); ``reason`` says why it
opened. ``keys`` gives the same for each upstream key, by its position in ``api_keys``
(never the key). It is what this worker process has seen of live traffic.
"""

from __future__ import annotations

from typing import Any

from airelay.state import AppState


def health_view(state: AppState, row: dict[str, Any]) -> dict[str, Any]:
    keys = []
    for sealed in row["api_keys"]:
        try:
            keys.append(state.box.decrypt(sealed))
        except ValueError:
            keys.append("")
    health = state.relay.health
    if health is None or not health.enabled:
        closed = {"state": "closed", "reason": None, "until": None}
        return {**closed, "keys": [{"index": i, **closed} for i in range(len(keys))]}
    return health.view(row["id"], keys)
