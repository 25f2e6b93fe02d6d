"""Channel order for one call: priority first (1 before 2), weighted shuffle within a
priority, so that each channel of a priority takes its weight's share of first attempts."""

from __future__ import annotations

import random
from collections.abc import Sequence

from airelay.store.snapshot import ChannelRecord


def attempt_order(
    channels: Sequence[ChannelRecord], rng: random.Random | None = None
) -> list[ChannelRecord]:
    if len(channels) == 1:
        return [channels[0]]
    draw = (rng or random).random

    def sort_key(channel: ChannelRecord) -> tuple[int, float]:
        # Efraimidis-Spirakis: u ** (1/w) ranks items in a weighted random order.
        weight = max(channel.weight, 0)
        rank = draw() ** (1.0 / weight) if weight > 0 else -draw()
        return channel.priority, -rank

    return sorted(channels, key=sort_key)
