"""An image call through the relay: the pipeline's stages with what images need instead of
a chat answer's:

    limit -> admit -> route (model, endpoint; channels whose wire makes what is asked)
          -> price per image (by size and quality) or by tokens, reserve n images
          -> attempt with failover -> poll the upstream's task until it ends (when the
             upstream answers with one) -> images as the client asked (stored for a URL,
             fetched for base64) -> settle on the images delivered

Each channel's upstream image format gives an ``ImageWire`` (``formats.images``): the
request it gets, its answer read into images, a task's status. The relay names none of
them. A call whose upstream, task or storage fails is not charged; a client that goes away
does not cancel the call: it runs to its end and is billed what was made.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import time
from dataclasses import dataclass
from typing import Protocol

import orjson
from yarl import URL as Address

from airelay.billing.tokens import prompt_upper_bound
from airelay.client import Target, Timeouts, UpstreamError, post_target, request_target
from airelay.errors import GatewayError
from airelay.formats.image_wires import client_error, image_wire
from airelay.formats.images import (
    B64_JSON,
    URL,
    Generated,
    ImageAnswer,
    ImageRequest,
    ImageWire,
    Pending,
    TaskFailed,
    sniff_mime,
    with_images,
)
from airelay.formats.usage import Usage
from airelay.pricing import image_price
from airelay.providers.base import TaskPolling
from airelay.providers.presets import preset
from airelay.relay.answers import Whole, upstream_error_message
from airelay.relay.call import Call
from airelay.relay.collaborators import Relay
from airelay.relay.endpoints import channel_endpoint, channel_format
from airelay.relay.failover import Attempt, Completed, Unusable, call_with_failover
from airelay.relay.images import fetch_image
from airelay.relay.limits import NO_LEASE
from airelay.relay.metering import Meter, open_meter
from airelay.relay.routing import channels_for
from airelay.relay.scrub import scrub
from airelay.store.snapshot import ChannelRecord, KeyRecord, Snapshot
from airelay.transport.base import Transport

# Polling an upstream's task: the first look soon, then less and less often.
POLL_FIRST_SECONDS = 0.2
POLL_MAX_SECONDS = 5.0
# Input tokens an edit's input image is reserved at when the model is priced by tokens
# (gpt-image counts a large image at a few thousand).
TOKENS_PER_INPUT_IMAGE = 8192


class Keeper(Protocol):
    """Keeps an image the upstream gave as bytes and answers the URL it is served at."""

    async def keep(self, data: bytes, mime: str) -> str: ...


@dataclass(slots=True)
class _Submitted:
    """A 200 from one channel: images, or a task still running there (with the key that
    submitted it: the one that may read it)."""

    channel: ChannelRecord
    key: str
    wire: ImageWire
    answer: ImageAnswer | Pending


def _wire(channel: ChannelRecord, call: Call) -> ImageWire | None:
    return image_wire(channel_format(channel, call))


def servable(
    channels: list[ChannelRecord], call: Call, request: ImageRequest
) -> list[ChannelRecord]:
    """The channels whose upstream makes what ``request`` asks (an edit needs one that
    edits); a 400 when the model has none."""
    usable = []
    for channel in channels:
        wire = _wire(channel, call)
        if wire is not None and (wire.edits or not request.edit):
            usable.append(channel)
    if not usable:
        what = "edit images" if request.edit else "make images"
        raise GatewayError(400, f"The model '{call.model}' does not {what}.")
    return usable


async def run_image_call(
    relay: Relay,
    snapshot: Snapshot,
    record: KeyRecord,
    call: Call,
    request: ImageRequest,
    keeper: Keeper,
) -> Whole:
    """One image call of an authenticated, authorized caller, answered whole."""
    lease = await relay.limits.acquire(snapshot, record, call.model, len(call.body))
    call.limit_headers = lease.headers
    try:
        relay.admission.enter()
    except BaseException:
        lease.release()
        raise
    try:
        channels = servable(channels_for(snapshot, call.model, call.endpoint), call, request)
        meter, per_image = await _reserve(relay, snapshot, record, call, request)
    except BaseException:
        relay.admission.leave()
        lease.release()
        raise
    meter.lease = lease  # ended when the meter closes, however the call ends
    # A client that goes away does not cancel the call: the upstream makes (and bills) the
    # images anyway, so the call runs on and is settled on what it made.
    task = asyncio.ensure_future(
        _run(relay, channels, call, request, keeper, meter, per_image=per_image)
    )
    task.add_done_callback(_consumed)
    whole = await asyncio.shield(task)
    # The key's rate-limit state, as every relayed answer carries it.
    return dataclasses.replace(whole, headers=call.limit_headers) if call.limit_headers else whole


def _consumed(task: asyncio.Future[Whole]) -> None:
    if not task.cancelled():
        task.exception()


async def _reserve(
    relay: Relay, snapshot: Snapshot, record: KeyRecord, call: Call, request: ImageRequest
) -> tuple[Meter, bool]:
    """n images at the per-image price of the asked size and quality; a model priced by
    tokens instead reserves its prompt (and input images) and n times its output cap.
    Returns the meter, and whether the call is priced per image."""
    price = snapshot.prices.get(call.model)
    per_image: int | None = None
    if price is not None:
        try:
            per_image = image_price(price, request.size, request.quality)
        except LookupError as exc:
            raise GatewayError(400, f"The model '{call.model}': {exc}.") from exc
    priced_per_image = per_image is not None
    prompt = 0 if priced_per_image else prompt_upper_bound(len(request.prompt.encode()), 1)
    prompt += 0 if priced_per_image else TOKENS_PER_INPUT_IMAGE * len(request.images)
    meter = await open_meter(
        relay.wallets,
        snapshot,
        record,
        model=call.model,
        endpoint=call.path,
        request_id=call.request_id,
        prompt_tokens=prompt,
        max_output_tokens=0 if priced_per_image else None,
        choices=request.n,
        cache_writes=False,
        images=request.n if priced_per_image else 0,
        image_price=per_image or 0,
    )
    return meter, priced_per_image


async def _run(
    relay: Relay,
    channels: list[ChannelRecord],
    call: Call,
    request: ImageRequest,
    keeper: Keeper,
    meter: Meter,
    *,
    per_image: bool,
) -> Whole:
    used: dict[str, str] = {}  # channel id -> the key of its attempt (which reads its task)
    try:
        submitted = await call_with_failover(
            relay.upstream,
            channels,
            lambda channel: _attempt(relay, call, request, channel, used),
            lambda result: _accept(call, result, used),
            stream=False,
            admit=lambda channel: _admit(relay, call, meter, channel),
        )
        if isinstance(submitted, Whole):  # an error the client should see
            meter.release()
            return submitted
        assert isinstance(submitted, _Submitted)
        answer = submitted.answer
        if isinstance(answer, Pending):
            answer = await _poll(relay, submitted, answer.task_id)
        answer.images = answer.images[: request.n]  # never more than was asked and reserved
        await _deliver(relay, submitted.channel, answer.images, request.response_format, keeper)
    except BaseException:
        meter.release()
        raise
    finally:
        relay.admission.leave()
    usage = _usage(answer, per_image=per_image)
    meter.settle(usage, channel_id=submitted.channel.id)
    body = orjson.dumps(with_images(answer, int(time.time())))
    return Whole(200, body, "application/json")


async def _admit(relay: Relay, call: Call, meter: Meter, channel: ChannelRecord) -> bool:
    """Whether ``channel`` is under its own rate limits: a lease the meter ends (the
    previous attempt's ends now)."""
    meter.channel_lease.release()
    meter.channel_lease = NO_LEASE
    lease = await relay.limits.admit_channel(channel, len(call.body))
    if lease is None:
        return False
    meter.channel_lease = lease
    return True


def _attempt(
    relay: Relay, call: Call, request: ImageRequest, channel: ChannelRecord, used: dict[str, str]
) -> Attempt:
    provider = preset(channel.type).provider
    wire = _wire(channel, call)
    assert wire is not None  # ``servable`` kept only channels with one
    endpoint = channel_endpoint(channel, call)
    upstream_model = channel.upstream_model(call.model)
    key = used[channel.id] = channel.next_key()
    head = channel.cached(
        ("image head", endpoint, upstream_model, key),
        lambda: provider.head(channel.base_url, key, endpoint, upstream_model, stream=False),
    )
    built = wire.build(request, upstream_model)
    headers = dict(head.headers)
    if built.content_type is not None:
        headers["Content-Type"] = built.content_type
    target = post_target(wire.url(head.url, request), headers, encoded=head.encoded)
    body = built.body
    if provider.per_call:
        finished = provider.finish(head, key, body, relay.upstream.egress(channel))
        body = finished.body
        target = target.with_fields(finished.fields)
    timeouts = (
        Timeouts(connect=relay.settings.upstream_connect_timeout, read=channel.timeout)
        if channel.timeout
        else None
    )
    return Attempt(channel=channel, target=target, body=body, timeouts=timeouts)


def _accept(call: Call, result: Completed, used: dict[str, str]) -> _Submitted | Whole:
    wire = _wire(result.channel, call)
    assert wire is not None
    if result.status != 200:
        if wire.name == call.client:  # the client's own error shape already
            content_type = result.content_type.split(";")[0] or "application/json"
            return Whole(result.status, result.body, content_type)
        message = _error_message(result.body, result.channel)
        error = client_error(call.client, result.status, message)
        return Whole(result.status, error, "application/json")
    try:
        answer = wire.answer(result.body)
    except (ValueError, TaskFailed, TypeError, AttributeError) as exc:
        raise Unusable(f"the upstream answered 200 without a usable image ({exc})"[:300]) from exc
    return _Submitted(result.channel, used.get(result.channel.id, ""), wire, answer)


def _error_message(body: bytes, channel: ChannelRecord) -> str:
    """An upstream error's message: the usual shapes, or a top-level ``message`` (DashScope)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("message"), str):
        return scrub(document["message"], channel.secrets())[:1000]
    return upstream_error_message(body, channel)


async def _poll(relay: Relay, submitted: _Submitted, task_id: str) -> ImageAnswer:
    """The task's images, once it ends: read every few seconds (sooner at first) until
    ``image_task_timeout``; 502 when it fails, 504 when it does not end in time."""
    channel = submitted.channel
    provider = preset(channel.type).provider
    if not isinstance(provider, TaskPolling) or not task_id:
        raise GatewayError(502, "upstream failed: it answered a task that cannot be read")
    head = provider.task_head(channel.base_url, submitted.key, task_id)
    target = request_target("GET", head.url, head.headers, encoded=head.encoded)
    transport = relay.upstream.for_channel(channel)
    seconds = relay.settings.image_task_timeout
    delay = POLL_FIRST_SECONDS
    try:
        async with asyncio.timeout(seconds):
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, POLL_MAX_SECONDS)
                status, body = await _read(transport, target)
                if status == 200:
                    try:
                        answer = submitted.wire.poll(body)
                    except TaskFailed as exc:
                        message = scrub(str(exc), channel.secrets())
                        raise GatewayError(502, f"upstream image task failed: {message}") from exc
                    except (ValueError, TypeError, AttributeError) as exc:
                        raise GatewayError(502, "upstream failed: unreadable task status") from exc
                    if isinstance(answer, ImageAnswer):
                        return answer
                elif status not in (429,) and status < 500:
                    message = _error_message(body, channel)
                    raise GatewayError(502, f"upstream failed reading the task: {message}")
    except TimeoutError as exc:
        raise GatewayError(
            504, f"upstream timed out: the image task did not end in {seconds:g} s"
        ) from exc


async def _read(transport: Transport, target: Target) -> tuple[int, bytes]:
    """One GET of a task's status; a connection failure reads as a 503 (tried again)."""
    try:
        response = await transport.send(target, b"")
        body = await response.read()
        response.release()
        return response.status, body
    except UpstreamError:
        return 503, b""


async def _deliver(
    relay: Relay,
    channel: ChannelRecord,
    images: list[Generated],
    wanted: str | None,
    keeper: Keeper,
) -> None:
    """Each image as the client asked: bytes kept and answered as a URL, a URL fetched
    and answered as base64 (None: as the upstream gave it)."""
    for image in images:
        if wanted == URL and image.url is None and image.b64 is not None:
            try:
                data = base64.b64decode(image.b64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise GatewayError(502, "upstream failed: an image is not valid base64") from exc
            image.url = await keeper.keep(data, sniff_mime(data) or image.mime)
            image.b64 = None
        elif wanted == B64_JSON and image.b64 is None and image.url is not None:
            transport = (
                relay.upstream.for_channel(channel)
                if _same_origin(image.url, channel.base_url)
                else relay.images
            )
            try:
                _mime, data = await fetch_image(transport, image.url)
            except ValueError as exc:
                raise GatewayError(502, "upstream failed: its image could not be fetched") from exc
            image.b64 = base64.b64encode(data).decode("ascii")
            image.url = None


def _same_origin(url: str, base_url: str) -> bool:
    """Whether the upstream's image is on the channel's own origin (fetched like its
    calls); any other address is fetched as any image URL is: public addresses only."""
    try:
        one, other = Address(url), Address(base_url)
    except ValueError:
        return False
    return (one.scheme, one.host, one.port) == (other.scheme, other.host, other.port)


def _usage(answer: ImageAnswer, *, per_image: bool) -> Usage:
    """Per image when the model has a per-image price (the tokens are not billed then),
    else the tokens the upstream reported."""
    count = len(answer.images)
    if per_image or answer.usage is None:
        return Usage(images=count)
    usage = answer.usage
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_tokens=usage.cached_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        images=count,
    )
