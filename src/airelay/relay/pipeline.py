"""One call through the relay, for any endpoint, whatever the client's format and the
channel's:

    (the surface: authenticate -> authorize) -> limit -> admit -> route
          -> price and reserve -> fetch images -> per channel: shape the attempt
          -> call with failover -> whole answer or stream -> settle

The pipeline works with its collaborators (``Relay``), never the application state, and
names no wire format nor endpoint: the call carries its ``Endpoint``, which routes it
(``snapshot.endpoint_routes``: a chat-family call reaches every channel serving any endpoint
of its family) and picks, per channel, the endpoint that serves it and so its format
(``endpoints.channel_endpoint``: the client's own format when the channel speaks it);
the client's and the channel's format each give a
``Body`` (every endpoint: pricing, whole answers) or a ``Wire`` (chat: codec, streams; see
``formats.wire``). When they are the same, the bytes pass through (model renamed, usage
read); otherwise the IR translates request, answer and stream (chat formats only: no
channel of another format serves a non-chat endpoint's model, see ``providers``).
Pricing, reservation and settlement are the same steps for every endpoint.

Bounds: a call first takes a slot in the process's ``Admission`` (503 above the cap); a
whole answer is read once, inside the failover loop (``_Answer.accept``), so that a 200
that cannot be read falls over to the next channel; a non-stream call whose client goes
away is read on for a while and billed (``_whole_call``).

Each attempt's request is built in ``attempts``; a whole answer is read in ``answers``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass

from airelay.billing.tokens import prompt_upper_bound
from airelay.billing.wallets import Wallets
from airelay.config import Settings
from airelay.errors import GatewayError
from airelay.formats.client_framing import content_type
from airelay.formats.names import Framing, WireFormat
from airelay.formats.registry import body as format_body
from airelay.formats.session import session_key
from airelay.formats.usage import Usage
from airelay.relay.admission import Admission
from airelay.relay.affinity import SessionCall, open_session
from airelay.relay.answers import Unbilled, Whole, read_whole
from airelay.relay.attempts import build_attempt, needs_inline_images, servable, wire_format
from airelay.relay.call import Call
from airelay.relay.collaborators import Relay
from airelay.relay.estimate import estimate_usage, settle_on_estimate
from airelay.relay.failover import Attempt, Completed, Streaming, call_with_failover
from airelay.relay.health import Health, pick_key
from airelay.relay.images import inline_remote_images
from airelay.relay.limits import NO_LEASE, NO_LIMITS, Lease, Limits
from airelay.relay.media import events_of_whole, raw_bytes, raw_stream, relay_raw
from airelay.relay.metering import CLIENT_CLOSED, Meter, open_meter
from airelay.relay.routing import bound_first, channels_for, fastest_first
from airelay.relay.streaming import Write, relay_stream
from airelay.relay.thinking import ThinkingPolicy
from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot
from airelay.transport.choice import Transports


@dataclass(slots=True)
class Streamed:
    """An open upstream stream: ``run(write)`` copies it to the client and settles; if the
    surface cannot start the response, ``abandon()`` closes and settles instead. Either one
    ends the call's slot in ``admission``."""

    call: Call
    upstream: Streaming
    meter: Meter
    channel_fmt: WireFormat
    content_type: str
    admission: Admission
    settings: Settings

    @property
    def headers(self) -> Mapping[str, str]:
        return self.call.limit_headers

    async def run(self, write: Write, last: Write | None = None) -> bool:
        """Copy the stream to ``write``; False when it was cut and the client could not be
        told so in the stream's own bytes (audio): the response must not end normally.
        ``last``, when given, may write the final bytes and end the response at once."""
        try:
            if raw_stream(self.call):
                return await relay_raw(
                    self.call,
                    self.upstream,
                    self.meter,
                    write,
                    max_bytes=self.settings.max_stream_bytes,
                    max_seconds=self.settings.max_stream_seconds,
                )
            await relay_stream(
                self.call,
                self.upstream,
                self.meter,
                self.channel_fmt,
                write,
                max_bytes=self.settings.max_stream_bytes,
                max_seconds=self.settings.max_stream_seconds,
                last=last,
            )
            return True  # a cut stream ends with an error event in the client's format
        finally:
            self.admission.leave()

    def abandon(self) -> None:
        self.upstream.close()
        self.meter.settle(Usage(), channel_id=self.upstream.channel.id, status=CLIENT_CLOSED)
        self.admission.leave()


async def run_call(
    relay: Relay, snapshot: Snapshot, record: KeyRecord, call: Call
) -> Whole | Streamed:
    """One call of a caller the surface has authenticated and authorized, through the
    remaining stages: limit -> admit -> route by (model, endpoint), the channel the call's
    conversation is bound to first (``affinity``) -> price and reserve ->
    fetch images -> attempt with failover -> answer whole or streamed (each settles the
    meter once)."""
    limits = relay.limits
    # Deferred over the network: the key's take goes with the first channel's (one round
    # trip, sent ahead: ``prefetch``), or alone when no channel has limits of its own.
    lease = await limits.acquire(snapshot, record, call.model, len(call.body), defer=True)
    call.limit_headers = lease.headers
    if relay.sealer is not None:
        call.thinking = ThinkingPolicy.of(relay.sealer, snapshot.reasons(call.model), call.body)
    admission = relay.admission
    try:
        admission.enter()  # 503 above the cap, before any money is reserved
    except BaseException as exc:
        await _refused(limits, lease, exc)
        raise
    try:
        # Routing first: a model no channel serves is refused without touching the wallet.
        channels = servable(call, channels_for(snapshot, call.model, call.endpoint))
        if relay.health is not None and relay.health.settings.latency_routing:
            channels = fastest_first(channels, relay.health.ttfb)
        session = await _session(relay, record, call) if _choice(channels) else None
        if session is not None and session.bound is not None:
            channels = bound_first(channels, session.bound.channel_id)
        # The deferred take leaves now, with the first channel's, and is awaited at the
        # first attempt: its round trip runs while the call is priced and reserved.
        limits.prefetch(lease, channels[0] if channels else None)
        meter = await _reserve(relay.wallets, snapshot, record, call)
    except BaseException as exc:
        admission.leave()
        await _refused(limits, lease, exc)
        raise
    meter.lease = lease  # ended when the meter closes, however the call ends
    try:
        if lease.deferred and not _channel_limited(channels):
            # No channel's admission will await the take: before any image is fetched.
            await limits.confirm(lease)
            call.limit_headers = lease.headers
        if needs_inline_images(call, channels):
            # Only a call that can pay is worth the fetches; once, before any attempt.
            await inline_remote_images(relay.images, call.request_ir())
    except BaseException:
        meter.release()
        admission.leave()
        raise
    answer = _Answer(
        relay.settings, relay.upstream, call, meter, session, relay.limits, relay.health
    )
    try:
        if not call.stream:
            return _limit_headed(call, await _whole_call(relay, channels, answer))
        result = await _stream_call(relay, channels, answer)
    except GatewayError as exc:
        if lease.deferred:  # refused before any channel was tried
            await _refused(limits, lease, exc)
        else:
            _add_limit_headers(exc, lease.headers)
        raise
    call.limit_headers = lease.headers
    return _limit_headed(call, result) if isinstance(result, Whole) else result


async def _refused(limits: Limits, lease: Lease, exc: BaseException) -> None:
    """A call refused before its attempts: a deferred take is made first, so that a call
    over its limits gets the 429 (raised from here) before any other error, as if the
    limits were taken first; then the lease ends, and ``exc`` carries its headers."""
    if lease.deferred and isinstance(exc, GatewayError):
        await limits.confirm(lease)
    lease.release()
    _add_limit_headers(exc, lease.headers)


def _limit_headed(call: Call, whole: Whole) -> Whole:
    if not call.limit_headers or whole.headers is call.limit_headers:
        return whole
    return dataclasses.replace(whole, headers=call.limit_headers)


def _add_limit_headers(exc: BaseException, headers: Mapping[str, str]) -> None:
    """A gateway error refused after the limit stage carries its headers too."""
    if headers and isinstance(exc, GatewayError):
        exc.headers = {**headers, **exc.headers}


def _choice(channels: list[ChannelRecord]) -> bool:
    """Whether routing has a choice to make (a channel or a key among several): without
    one, a session binding could only name what every call gets anyway, and its key (a
    hash of the conversation's prefix, often) is not worth computing."""
    return len(channels) > 1 or (bool(channels) and len(channels[0].api_keys) > 1)


async def _session(relay: Relay, record: KeyRecord, call: Call) -> SessionCall | None:
    """The call's session and its binding (see ``affinity``), None without one."""
    affinity = relay.affinity
    if affinity is None:
        return None
    key = session_key(call.client, call.payload, call.headers)
    if key is None:
        return None
    return await open_session(affinity, record.user_id, call.model, key)


async def _reserve(wallets: Wallets, snapshot: Snapshot, record: KeyRecord, call: Call) -> Meter:
    """Price the call's worst case and reserve it (402 when it cannot be paid): the same
    step for every endpoint, its bounds from the client's format."""
    passed = format_body(call.client)
    max_output, choices = passed.output_bounds(call)
    return await open_meter(
        wallets,
        snapshot,
        record,
        model=call.model,
        endpoint=call.path,
        request_id=call.request_id,
        prompt_tokens=prompt_upper_bound(len(call.body), passed.bytes_per_token),
        max_output_tokens=max_output,
        choices=choices,
        cache_writes=passed.cache_writes,
        known=call.known,
    )


async def _stream_call(
    relay: Relay, channels: list[ChannelRecord], answer: _Answer
) -> Whole | Streamed:
    """A stream call: the first channel that answers opens the stream (or answers whole,
    an error the client should see)."""
    try:
        result = await call_with_failover(
            relay.upstream,
            channels,
            answer.attempt,
            answer.accept,
            stream=True,
            admit=answer.admit if _channel_limited(channels) else None,
            raw=raw_bytes(answer.call),
            health=relay.health,
        )
    except BaseException:
        answer.meter.release()
        relay.admission.leave()
        raise
    if isinstance(result, Whole):
        try:
            result = await _billed(answer, result)
        except BaseException:
            answer.meter.release()
            raise
        finally:
            relay.admission.leave()
        answer.served()
        return _as_events(answer.call, result)
    answer.served()
    return Streamed(
        call=answer.call,
        upstream=result,
        meter=answer.meter,
        channel_fmt=wire_format(result.channel, answer.call),
        content_type=_stream_type(answer.call, result),
        admission=relay.admission,
        settings=relay.settings,
    )


def _as_events(call: Call, whole: Whole) -> Whole:
    """A stream call answered whole (and billed so): its answer as the client's events when
    its format tells whole answers so (``media.events_of_whole``), else as it came."""
    if whole.status != 200:
        return whole
    events = events_of_whole(call, whole.body, whole.content_type)
    if events is None:
        return whole
    return Whole(200, events, content_type(Framing.SSE), headers=whole.headers)


async def _whole_call(relay: Relay, channels: list[ChannelRecord], answer: _Answer) -> Whole:
    """A non-stream call, run apart from the client's request (a task the handler awaits
    shielded): a client that goes away after the upstream got the call does not cancel it.
    The answer is read for up to ``dropped_call_read_seconds`` more and billed on the usage
    the upstream reports, or, if it does not come in time, on the estimate."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(_whole_answer(relay, channels, answer))
    # What asyncio.shield does, with one future and one callback less: cancelling the
    # handler cancels ``done``, never the task.
    done = loop.create_future()
    task.add_done_callback(functools.partial(_wake, done))
    try:
        await done
    except asyncio.CancelledError:
        if task.done():  # settled already; take a failure so it is not reported
            if not task.cancelled():
                task.exception()
        else:
            answer.client_gone(task, relay.settings.dropped_call_read_seconds)
        raise
    return task.result()


async def _billed(answer: _Answer, result: Whole) -> Whole:
    """``result``, settled: an answer that came without usage is counted offline (in a
    thread when long) and carries that count, which is what the call is billed."""
    if not isinstance(result, Unbilled):
        return result
    usage = await estimate_usage(answer.call, result.text)
    answer.meter.settle(usage, channel_id=result.channel_id, status=answer.status)
    return Whole(200, result.rebody(usage), result.content_type)


def _wake(done: asyncio.Future[None], _task: asyncio.Future[Whole]) -> None:
    if not done.done():
        done.set_result(None)


async def _whole_answer(relay: Relay, channels: list[ChannelRecord], answer: _Answer) -> Whole:
    try:
        result = await call_with_failover(
            relay.upstream,
            channels,
            answer.attempt,
            answer.accept,
            stream=False,
            admit=answer.admit if _channel_limited(channels) else None,
            health=relay.health,
        )
        assert isinstance(result, Whole)  # a non-stream call is never answered as a stream
        result = await _billed(answer, result)
        answer.served()
        return result
    except asyncio.CancelledError:
        if answer.gave_up:
            answer.settle_on_estimate()  # the upstream had the call and may bill for it
        answer.meter.release()
        raise
    except BaseException:
        answer.meter.release()
        raise
    finally:
        relay.admission.leave()


class _ClientGone(Exception):
    """The client left while the call was failing over: no new attempt is made for it."""


class _Answer:
    """One call's per-attempt steps for ``call_with_failover``: build the attempt, and
    accept a whole answer (read once: usage, translation) or find it unusable."""

    __slots__ = (
        "call",
        "channel",
        "gave_up",
        "health",
        "key",
        "limits",
        "meter",
        "session",
        "settings",
        "status",
        "transports",
    )

    def __init__(
        self,
        settings: Settings,
        transports: Transports,
        call: Call,
        meter: Meter,
        session: SessionCall | None = None,
        limits: Limits = NO_LIMITS,
        health: Health | None = None,
    ) -> None:
        self.settings = settings
        self.transports = transports
        self.limits = limits
        self.health = health
        self.call = call
        self.meter = meter
        self.session = session
        self.status = 200  # the usage row's status: CLIENT_CLOSED once the client left
        self.channel: ChannelRecord | None = None  # the channel of the latest attempt
        self.key = ""  # ... and its upstream key
        self.gave_up = False

    @property
    def channel_id(self) -> str | None:
        return None if self.channel is None else self.channel.id

    async def admit(self, channel: ChannelRecord) -> bool:
        """Whether ``channel`` is under its own rate limits for this attempt: it takes a
        lease on them, which the meter ends (the previous attempt's ends now)."""
        meter = self.meter
        meter.channel_lease.release()
        meter.channel_lease = NO_LEASE
        if meter.closed:
            return True
        key = meter.lease
        lease = await self.limits.admit_channel(channel, len(self.call.body), key)
        self.call.limit_headers = key.headers  # a deferred take was made with the channel's
        if lease is None:
            return False
        meter.channel_lease = lease
        return True

    def attempt(self, channel: ChannelRecord) -> Attempt:
        if self.status == CLIENT_CLOSED:
            raise _ClientGone
        self.channel = channel
        if self.session is None:
            self.key = pick_key(self.health, channel)
        else:
            self.key, bound = self.session.key(channel)
            if self.health is not None and not self.health.take_key(channel.id, self.key):
                self.key, bound = pick_key(self.health, channel), False  # that key is out
            self.meter.affinity = int(bound)
        return build_attempt(self.settings, self.transports, self.call, channel, self.key)

    def served(self) -> None:
        """The latest attempt answered: its channel and key serve the session from now on."""
        if self.session is not None and self.channel is not None:
            self.session.served(self.channel, self.key)

    def accept(self, result: Completed) -> Whole:
        return read_whole(self.call, result, self.meter, self.status)

    def client_gone(self, task: asyncio.Future[Whole], seconds: float) -> None:
        """The client left: let the call finish on its own, for ``seconds`` at most."""
        self.status = CLIENT_CLOSED
        timer = asyncio.get_running_loop().call_later(seconds, self._give_up, task)
        task.add_done_callback(lambda done: _forget(done, timer))

    def _give_up(self, task: asyncio.Future[Whole]) -> None:
        self.gave_up = True
        task.cancel()

    def settle_on_estimate(self) -> None:
        settle_on_estimate(
            self.meter, self.call, "", channel_id=self.channel_id, status=CLIENT_CLOSED
        )


def _forget(task: asyncio.Future[Whole], timer: asyncio.TimerHandle) -> None:
    """A task nobody awaits any more: stop its timer, and take its outcome so that a
    failure is not reported as never retrieved."""
    timer.cancel()
    if not task.cancelled():
        task.exception()


def _channel_limited(channels: list[ChannelRecord]) -> bool:
    """Whether any of ``channels`` has rate limits of its own (most have none)."""
    # A loop, not any() over a generator: this runs on every call.
    for channel in channels:  # noqa: SIM110 (``limit_policy.channel_rules`` is not empty)
        if channel.rpm or channel.tpm or channel.max_concurrency:
            return True
    return False


def _stream_type(call: Call, upstream: Streaming) -> str:
    """A stream's content type: the upstream's for a raw stream (audio, a transcription's
    events), else the client's framing's."""
    if raw_stream(call):
        return upstream.response.headers.get("content-type", "application/octet-stream")
    return content_type(call.framing)
