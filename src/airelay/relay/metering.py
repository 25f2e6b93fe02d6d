"""Metering a call: refuse what cannot be paid, reserve the worst case, settle the real cost.

The surfaces open a ``Meter`` before calling the upstream and close it exactly once: with
``settle`` when the call produced something, with ``release`` when it produced nothing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airelay.billing.key_quotas import QuotaExhausted
from airelay.billing.wallets import InsufficientFunds, Reservation, Wallets
from airelay.errors import GatewayError
from airelay.formats.usage import Usage
from airelay.ids import new_id
from airelay.observe import access
from airelay.observe.metrics import charged, limit_rejected
from airelay.pricing import Price, known_cost, token_cost, upstream_cost, worst_case
from airelay.relay.limits import NO_LEASE, Lease
from airelay.store.snapshot import KeyRecord, Snapshot

# The status a usage row records for a call whose client went away mid-answer.
CLIENT_CLOSED = 499


@dataclass(slots=True)
class Meter:
    wallets: Wallets
    record: KeyRecord
    model: str
    endpoint: str
    request_id: str
    price: Price
    reservation: Reservation
    multiplier_key: str
    snapshot: Snapshot
    started: float = field(default_factory=time.perf_counter)
    closed: bool = False
    affinity: int = 0  # 1: the call went to the channel its session is bound to
    # The call's hold on its rate-limit counters, and on its channel's: closing the meter
    # ends them (real tokens for the estimate, slots in flight freed).
    lease: Lease = NO_LEASE
    channel_lease: Lease = NO_LEASE
    image_price: int = 0  # the price of each image the call makes (``Usage.images``)

    def settle(self, usage: Usage, *, channel_id: str | None, status: int = 200) -> int:
        """Charge the call's real cost and queue its usage row; returns the charge."""
        if self.closed:
            return 0
        self.closed = True
        return self._charge(channel_id, status, self._latency_ms(), int(time.time()), usage)

    def settle_later(self, *, channel_id: str | None, status: int) -> Callable[[Usage], int] | None:
        """Close the meter now for usage known later (counted off the event loop): returns
        what charges it, once, or None if the meter was closed already. A ``release`` in
        between does nothing; the row keeps the latency and time of now."""
        if self.closed:
            return None
        self.closed = True
        # The call is over: its slots in flight go back now, not when its tokens are counted.
        self.lease.free()
        self.channel_lease.free()
        return functools.partial(
            self._charge, channel_id, status, self._latency_ms(), int(time.time())
        )

    def _latency_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    def _charge(
        self, channel_id: str | None, status: int, latency_ms: int, created_at: int, usage: Usage
    ) -> int:
        tokens = usage.prompt_tokens + usage.completion_tokens
        self.lease.settle(tokens)
        self.channel_lease.settle(tokens)
        multiplier = self.snapshot.group_multipliers.get(self.multiplier_key)
        cost = token_cost(usage, self.price, multiplier, self.image_price)
        # What the call cost the operator: the list price x its channel's cost multiplier.
        cost_rate = self.snapshot.channel_costs.get(channel_id) if channel_id else None
        spent = upstream_cost(usage, self.price, cost_rate, self.image_price)
        row = {
            "id": new_id("log"),
            "user_id": self.record.user_id,
            "token_id": self.record.id,
            "model": self.model,
            "endpoint": self.endpoint,
            "channel_id": channel_id,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": usage.cached_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
            "cache_write_1h_tokens": usage.cache_write_1h_tokens,
            "characters": usage.characters,
            "audio_seconds": usage.audio_seconds,
            "affinity": self.affinity,
            "images": usage.images,
            "latency_ms": latency_ms,
            "status": status,
            "request_id": self.request_id,
            "created_at": created_at,
            "cost": 0,  # set to the charge by the wallet
            "upstream_cost": spent,
        }
        charge = self.wallets.settle(self.reservation, cost, row)
        charged(
            channel_id,
            self.model,
            self.record.user_group,
            usage.prompt_tokens,
            usage.completion_tokens,
            charge,
        )
        access.note_usage(channel_id, usage.prompt_tokens, usage.completion_tokens)
        return charge

    def release(self) -> None:
        if not self.closed:
            self.closed = True
            self.lease.release()
            self.channel_lease.release()
            self.wallets.release(self.reservation)


async def open_meter(
    wallets: Wallets,
    snapshot: Snapshot,
    record: KeyRecord,
    *,
    model: str,
    endpoint: str,
    request_id: str,
    prompt_tokens: int,
    max_output_tokens: int | None,
    choices: int = 1,
    cache_writes: bool = True,
    images: int = 0,
    image_price: int = 0,
    known: Usage | None = None,
) -> Meter:
    """403 for a model without a price or a key whose quota is spent, 402 when the
    balance cannot cover the worst case (plus what ``known`` bills: a speech's characters,
    an upload's seconds); otherwise the reserved meter."""
    price = snapshot.prices.get(model)
    if price is None:
        raise GatewayError(
            403,
            f"The model '{model}' has no price set; the operator must price it "
            "(0 for free) before it can be called.",
        )
    amount = worst_case(
        price,
        prompt_tokens,
        max_output_tokens,
        choices,
        cache_writes=cache_writes,
        images=images,
        image_price=image_price,
    )
    amount += known_cost(known, price)
    try:
        # The quota is checked and the worst case reserved against it in one step (the
        # key's spend may be read first): a burst cannot pass the check all at once.
        reservation = await wallets.reserve(
            record.user_id, record.id, amount, record.quota, record.quota_period
        )
    except QuotaExhausted as spent:
        limit_rejected("key", "quota")
        raise GatewayError(403, "This API key has exhausted its quota.") from spent
    except InsufficientFunds as exc:
        raise GatewayError(402, "Insufficient balance. Please top up your account.") from exc
    access.note_call(record.id, model)
    return Meter(
        wallets=wallets,
        record=record,
        model=model,
        endpoint=endpoint,
        request_id=request_id,
        price=price,
        reservation=reservation,
        multiplier_key=record.user_group,
        snapshot=snapshot,
        image_price=image_price,
    )
