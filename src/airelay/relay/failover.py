"""Try channels in order until one answers; nothing has reached the client before that.

A failed attempt (connection error, timeout, 429, 5xx, an upstream that refuses the
channel's own key, an answer larger than the client's cap, or a whole answer the caller's
``accept`` step finds unusable, such as a 200 that is not JSON) moves on to the next channel
after a short backoff. An upstream that rejects the request itself (400, 413, 422...) is
answered as it is, scrubbed: another channel would reject it too.

A channel whose key waits for its short-lived token (``CredentialPending``: Vertex AI,
Azure AD) is built again once the token came; one whose token endpoint failed
(``CredentialError``) fails over like an upstream that did not answer.

Each attempt's outcome goes to the process's ``Health`` (when given): a channel or key
whose circuit is open is skipped (``relay.health``); when every channel is skipped, the call
is answered 503 with ``Retry-After`` at the end of the first cool-down. A channel whose
upstream refused the key (401, 403) is tried again at once with its next usable key.

A raw stream call (audio) streams any answer that is neither events nor JSON, as bytes.
A stream call's answer streams when its framing is one ``formats.framing`` reads (SSE,
NDJSON, AWS event-stream by content type; a JSON array by its first byte), else it is read
whole like any other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from airelay.client import Target, Timeouts, UpstreamError
from airelay.errors import GatewayError
from airelay.formats.framing import is_json, json_framing, stream_framing
from airelay.formats.names import Framing
from airelay.observe.metrics import (
    UPSTREAM_ERRORS,
    UPSTREAM_SECONDS,
    UPSTREAM_TTFB,
    FastHistogram,
)
from airelay.providers.base import CredentialError, CredentialPending
from airelay.relay.health import KEY_REJECTED, Health
from airelay.relay.scrub import scrub
from airelay.store.snapshot import ChannelRecord
from airelay.transport.base import Transport, UpstreamResponse
from airelay.transport.choice import Transports

# Statuses that say "this request is wrong", not "this channel is unwell".
REQUEST_ERRORS = frozenset({400, 409, 413, 415, 422})
BACKOFF_BASE = 0.05
BACKOFF_MAX = 1.0
_HEAD_LIMIT = 64 * 1024  # whitespace read before a JSON answer shows its first byte

Accepted = TypeVar("Accepted")


class Unusable(Exception):
    """Raised by an ``accept`` step: this whole answer cannot be used; try the next channel."""


@dataclass(frozen=True, slots=True)
class Attempt:
    channel: ChannelRecord
    target: Target
    body: bytes
    timeouts: Timeouts | None  # None: the pool's default
    key: str = ""  # the upstream key the attempt carries: its circuit's
    model: str = ""  # the public model name (a metric label)


@dataclass(frozen=True, slots=True)
class Completed:
    """A whole upstream answer (non-stream, or an error the client should see)."""

    channel: ChannelRecord
    status: int
    body: bytes
    content_type: str


class Streaming:
    """An open upstream stream whose first bytes have arrived, and how it is framed."""

    __slots__ = ("channel", "first", "framing", "response")

    def __init__(
        self, channel: ChannelRecord, response: UpstreamResponse, first: bytes, framing: Framing
    ) -> None:
        self.channel = channel
        self.response = response
        self.first = first
        self.framing = framing

    def close(self) -> None:
        """Done with the stream: a connection read to the end goes back to the pool, one
        left half-read is dropped."""
        self.response.release()


class _Failure(Exception):
    def __init__(
        self,
        kind: str,
        message: str,
        retry_after: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind  # "timeout" | "rate_limited" | "error"
        self.message = message
        self.retry_after = retry_after
        self.status = status  # the upstream's HTTP status, when it answered one

    @property
    def code(self) -> str:
        """The failure as a metric label: the HTTP status, or its kind."""
        return str(self.status) if self.status is not None else self.kind


async def call_with_failover(
    transports: Transports,
    channels: Sequence[ChannelRecord],
    build: Callable[[ChannelRecord], Attempt],
    accept: Callable[[Completed], Accepted],
    *,
    stream: bool,
    admit: Callable[[ChannelRecord], Awaitable[bool]] | None = None,
    raw: bool = False,
    health: Health | None = None,
) -> Accepted | Streaming:
    """Answer from the first channel that works, or raise the last failure as 502/504/429.

    A whole answer goes through ``accept`` (which reads it once: usage, translation) inside
    the loop, so that one it finds unusable (``Unusable``) falls over like a failed call.
    A channel ``admit`` turns down (at its own rate limit) is skipped without a backoff;
    when every channel is, the call is answered 429."""
    last: _Failure | None = None
    tried = 0
    queue = list(channels)
    position = 0
    while position < len(queue):
        channel = queue[position]
        position += 1
        if health is not None and not health.take(channel.id, channel.api_keys):
            continue
        if admit is not None and not await admit(channel):
            if health is not None:
                health.abandoned(channel.id, "")  # not tried: a probe it took goes back
            last = _Failure("rate_limited", f"channel {channel.id} is at its rate limit", "1")
            continue
        if tried:
            await asyncio.sleep(min(BACKOFF_BASE * 2 ** (tried - 1), BACKOFF_MAX))
        tried += 1
        try:
            try:
                attempt = build(channel)
            except CredentialPending as pending:  # a key's short-lived token is on its way
                # Shielded: a client that leaves does not cancel the fetch other calls share.
                await asyncio.shield(pending.ready)
                attempt = build(channel)
            transport = transports.for_channel(channel)
        except (CredentialError, CredentialPending) as denied:
            reason = str(denied) if isinstance(denied, CredentialError) else "it expired as it came"
            reason = scrub(reason, channel.secrets())  # the token endpoint's own words
            last = _Failure("error", f"channel {channel.id} has no access token: {reason}")
            if health is not None:
                health.failed(channel.id, channel.api_keys, "", None, last.message)
            continue
        except ValueError as misconfigured:  # a channel whose URL, key or TLS cannot go on the wire
            last = _Failure("error", f"channel {channel.id} is misconfigured: {misconfigured}")
            if health is not None:
                health.abandoned(channel.id, "")
            continue
        except BaseException:  # the client left before this attempt was made
            if health is not None:
                health.abandoned(channel.id, "")
            raise
        clock = _Clock()
        try:
            result = await _try(transport, attempt, clock, stream=stream, raw=raw)
            accepted = result if isinstance(result, Streaming) else accept(result)
        except _Failure as failure:
            last = failure
        except Unusable as exc:
            last = _Failure("error", str(exc))
        except BaseException:
            if health is not None:
                health.abandoned(channel.id, attempt.key)
            raise
        else:
            clock.observe(channel.id, attempt.model)
            if health is not None:
                health.succeeded(channel.id, attempt.key, clock.head)
            return accepted
        clock.observe(channel.id, attempt.model)
        UPSTREAM_ERRORS.labels(channel.id, attempt.model, last.code).inc()
        if health is not None:
            health.failed(channel.id, channel.api_keys, attempt.key, last.status, last.message)
            if last.status in KEY_REJECTED and health.ready(channel.id, channel.api_keys):
                queue.insert(position, channel)  # the same channel, with another key
    if last is None:  # every channel's circuit is open
        seconds = health.retry_after([channel.id for channel in channels]) if health else 1
        raise GatewayError(
            503,
            "No channel is available for this model now: every one is failing; retry shortly.",
            headers={"Retry-After": str(seconds)},
        )
    if last.kind == "timeout":
        raise GatewayError(504, f"upstream timed out: {last.message}")
    if last.kind == "rate_limited":
        headers = {"Retry-After": last.retry_after} if last.retry_after else {}
        raise GatewayError(429, f"upstream rate limited: {last.message}", headers=headers)
    raise GatewayError(502, f"upstream failed: {last.message}")


class _Clock:
    """One attempt's timings: to the upstream's response head, and in all."""

    __slots__ = ("head", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.head: float | None = None

    def observe(self, channel_id: str, model: str) -> None:
        histograms = _timed.get((channel_id, model))
        if histograms is None:  # once per channel and model: labels() costs a lookup each
            histograms = _timed[channel_id, model] = (
                FastHistogram(UPSTREAM_TTFB.labels(channel_id)),
                FastHistogram(UPSTREAM_SECONDS.labels(channel_id, model)),
            )
        if self.head is not None:
            histograms[0].observe(self.head)
        histograms[1].observe(time.perf_counter() - self.started)


# (channel id, model) -> its time-to-head and total histograms.
_timed: dict[tuple[str, str], tuple[FastHistogram, FastHistogram]] = {}


async def _try(
    transport: Transport, attempt: Attempt, clock: _Clock, *, stream: bool, raw: bool = False
) -> Completed | Streaming:
    secrets = attempt.channel.secrets()
    response: UpstreamResponse | None = None
    try:
        response = await transport.send(attempt.target, attempt.body, attempt.timeouts)
        clock.head = time.perf_counter() - clock.started
        content_type = response.headers.get("content-type", "application/json")
        if response.status >= 400:
            body = await response.read()
            response.release()
            if response.status in REQUEST_ERRORS:
                text = scrub(body.decode("utf-8", "replace"), secrets)
                status = 400 if response.status == 422 else response.status
                return Completed(attempt.channel, status, text.encode("utf-8"), content_type)
            message = f"HTTP {response.status}: " + scrub(_short(body), secrets)
            if response.status == 429:
                raise _Failure(
                    "rate_limited", message, response.headers.get("retry-after"), status=429
                )
            raise _Failure("error", message, status=response.status)
        body = b""
        if stream:
            # The framing follows from the content type, or (JSON) from the first bytes:
            # a JSON array streams, an object is a whole answer.
            framing = stream_framing(content_type)
            if raw and framing is None and not is_json(content_type):
                # Bytes as they come (audio): no events to read, the first block opens it.
                first = await response.readany()
                if not first:
                    raise _Failure("error", "upstream closed the stream before any data")
                return Streaming(attempt.channel, response, first, Framing.RAW)
            if framing is not None or is_json(content_type):
                first = await response.readany()
                if not first:
                    raise _Failure("error", "upstream closed the stream before any data")
                if framing is None:
                    while not first.strip() and len(first) < _HEAD_LIMIT:
                        more = await response.readany()
                        if not more:
                            break
                        first += more
                    framing = json_framing(first)
                if framing is not None:
                    return Streaming(attempt.channel, response, first, framing)
                body = first
        body += await response.read()
        response.release()
        return Completed(attempt.channel, response.status, body, content_type)
    except _Failure:
        if response is not None:
            response.close()
        raise
    except TimeoutError as timeout:
        if response is not None:
            response.close()
        raise _Failure("timeout", "no answer in time") from timeout
    except UpstreamError as exc:
        if response is not None:
            response.close()
        raise _Failure("error", scrub(f"{type(exc).__name__}: {exc}", secrets)) from exc
    except BaseException:  # cancelled because the client went away
        if response is not None:
            response.close()
        raise


def _short(body: bytes, limit: int = 500) -> str:
    text = body.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."
