"""The interface every upstream adapter implements: what it serves, and how each attempt's
request (URL, header fields, body, signature) is built from the channel, key, endpoint,
model and stream flag.

Building is split in two so that the relay's hot path stays as cheap as a bare proxy's:

- ``head(base_url, key, endpoint, model, stream=...)`` returns a ``Head`` (URL and header
  fields): everything that is the same for every call with these arguments. The relay
  encodes it once per (channel, key, endpoint, model, stream) and reuses the bytes, so a
  plain provider (OpenAI-compatible, Anthropic, Gemini) costs nothing per call.
- ``finish(head, key, body, egress)`` runs per call, and only for a provider whose
  ``per_call`` is true. It returns a ``Finished``: the body as sent (a provider may reshape
  it) and the header fields of this one request, appended to the cached head (an AWS SigV4
  ``Authorization`` over the body and the time: ``bedrock``).

Credentials that expire (Vertex AI access tokens, Azure AD) fit the same two steps without
a new relay hook: such a provider is ``per_call``, and its ``finish`` reads the token from a
cache with expiry kept per key (``{key: (header value, expires_at)}``), a dict lookup per
call. The provider refreshes an entry in a background task when it passes ~80 % of its
life, so that calls never wait; only the first call of a key (or one after a refresh failed
past expiry) has no token: then ``finish`` raises ``CredentialPending`` carrying the refresh's
awaitable, which the relay's attempt loop (``relay.failover``) awaits once before building the
attempt again; a refresh that fails raises ``CredentialError`` (a message without the secret)
and the attempt fails like an upstream that did not answer. ``providers.tokens`` holds that
cache (``vertex``, ``azure``). The token requests leave the way the channel's calls do (its
proxy, its TLS options): ``finish`` gets the channel's ``Egress`` from the relay, and a
token is cached per key and egress.

What a client sent beside its body (an ``anthropic-beta`` header, a ``?beta=true`` query)
is kept by its surface as ``ClientExtras`` on the call, ``None`` when there is nothing: a
call without extras costs nothing more. With extras, ``forward(extras, channel)`` says
what of it goes to this upstream (``Forward``: header fields added to the cached head per
call, and a query the head is built and cached with); a provider that takes none of it
answers ``None`` and the upstream never sees it.

Providers import ``formats`` only (the dependency rule): they know neither the HTTP client
nor money.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from airelay.formats.names import Endpoint, Framing, WireFormat

_T = TypeVar("_T")


class CredentialError(Exception):
    """A short-lived credential could not be had (its token endpoint refused or failed):
    the message says why, never with the secret."""


class CredentialPending(Exception):
    """``finish`` has no usable token for this key yet: await ``ready`` (the refresh, which
    raises ``CredentialError`` when it fails), then build the request again."""

    def __init__(self, ready: Awaitable[None]) -> None:
        super().__init__("an access token is being fetched")
        self.ready = ready


async def built(make: Callable[[], _T]) -> _T:
    """``make()`` (a request builder that may call ``finish``), awaiting one pending token
    first when it has to; off the relay's hot path (probes)."""
    try:
        return make()
    except CredentialPending as pending:
        # Shielded: a caller that goes away does not cancel a fetch other calls share.
        await asyncio.shield(pending.ready)
    try:
        return make()
    except CredentialPending:
        raise CredentialError("the token endpoint gave a token that expires at once") from None


@dataclass(frozen=True, slots=True)
class Head:
    """What is fixed for every call with the same (key, endpoint, model, stream)."""

    url: str
    headers: Mapping[str, str]
    #: The URL is percent-encoded as it must go on the wire and is sent byte for byte (a
    #: signed request's path must be exactly the path that was signed).
    encoded: bool = False


@dataclass(frozen=True, slots=True)
class Finished:
    """A ``per_call`` provider's part of one request: the body as sent, and the header
    fields of this request only (a signature, a fresh token)."""

    body: bytes
    fields: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ClientExtras:
    """What a client sent beside its body that an upstream may need, as its surface kept
    it: header fields (lower-case names) and query parameters."""

    fields: Mapping[str, str]
    query: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Forward:
    """A provider's part of a call's ``ClientExtras``: the header fields to add to this
    call's request, and a query to put on its URL (from a small fixed set: each value is a
    cached head of its own)."""

    fields: Mapping[str, str]
    query: str = ""


class Reply(Protocol):
    """A whole answer to a request a provider made itself (a token request)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Field names in lower case."""
        ...

    @property
    def body(self) -> bytes: ...


class Egress(Protocol):
    """How the requests a provider makes on a channel's behalf (its access tokens) leave the
    gateway: the channel's proxy and TLS options, exactly as its relayed calls (the relay
    gives one: ``transport.egress``). Hashable; equal egresses take the same way, and a
    key's token is cached per egress. ``post`` raises what the transport raises when the
    endpoint cannot be reached (a timeout, a refused connection or TLS handshake): name
    such a failure by its type only, its text may quote the request."""

    async def post(self, url: str, body: bytes, fields: Mapping[str, str]) -> Reply: ...


class ChannelOptions(Protocol):
    """The channel settings a provider reads when it forwards extras (the snapshot's
    channel record has them)."""

    @property
    def anthropic_betas(self) -> Mapping[str, str | None] | None: ...


class Provider(Protocol):
    """How to reach one kind of upstream."""

    #: Endpoint -> the wire format the upstream speaks on it (its request and answer
    #: bodies). Endpoints whose format has no codec yet are in ``endpoints`` only.
    formats: Mapping[Endpoint, WireFormat]
    #: Every endpoint this provider can build requests for: what a channel of its type may
    #: list in ``endpoints``.
    endpoints: frozenset[Endpoint]
    #: What a channel serves when its ``endpoints`` is not set.
    default_endpoints: frozenset[Endpoint]
    #: True when ``finish`` must run for every call (signing, body reshaping).
    per_call: bool
    #: False when the upstream may take calls without a key (a local Ollama): a channel
    #: of this type with no key is routed, and its calls carry no credential.
    key_required: bool
    #: How the upstream cuts a streamed answer (Gemini is asked for SSE with ``alt=sse``).
    framing: Framing

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        """URL and header fields of a call; raises ``ValueError`` if ``endpoint`` is not
        one this provider serves."""
        ...

    def finish(self, head: Head, key: str, body: bytes, egress: Egress) -> Finished:
        """The per-call part (only called when ``per_call``); ``egress`` is how the
        channel's token requests go out."""
        ...

    def check_key(self, key: str) -> None:
        """Raise ``ValueError`` (a message without the key) for a key of the wrong shape:
        the management API refuses it with 400."""
        ...

    def forward(self, extras: ClientExtras, channel: ChannelOptions) -> Forward | None:
        """What of a client's extras goes to this upstream (None: nothing)."""
        ...


@runtime_checkable
class ChecksBaseUrl(Protocol):
    """A provider whose ``base_url`` carries settings of the channel (Vertex AI's project and
    region, Azure OpenAI's API version) or decides what it can serve: the management API
    refuses with 400 what ``check_base_url`` raises ``ValueError`` for."""

    def check_base_url(self, base_url: str, endpoints: frozenset[Endpoint]) -> None: ...


@runtime_checkable
class TaskPolling(Protocol):
    """A provider whose endpoint answers with a task that is polled until it ends
    (DashScope's image synthesis): the head of the GET that reads a task's status."""

    def task_head(self, base_url: str, key: str, task_id: str) -> Head: ...


@runtime_checkable
class ModelListing(Protocol):
    """A provider whose upstream lists its models for free (OpenAI's ``GET /models``,
    Gemini's ``GET /v1beta/models``): the channel test's probe for the endpoints whose
    smallest real call is billed or needs a file (images, audio). The answer lists them
    under ``data`` (OpenAI) or ``models`` (Gemini)."""

    def models_head(self, base_url: str, key: str) -> Head: ...


class Plain:
    """Shared by the providers whose request is a head plus the body as it is."""

    per_call = False
    key_required = True

    def finish(self, head: Head, key: str, body: bytes, egress: Egress) -> Finished:
        return Finished(body, {})

    def check_key(self, key: str) -> None:
        return None

    def forward(self, extras: ClientExtras, channel: ChannelOptions) -> Forward | None:
        return None


@dataclass(frozen=True, slots=True)
class Request:
    """One whole request as the upstream gets it (for the channel probe and tests)."""

    url: str
    headers: dict[str, str]
    body: bytes
    encoded: bool


def build(
    provider: Provider,
    base_url: str,
    key: str,
    endpoint: Endpoint,
    model: str,
    body: bytes,
    *,
    stream: bool,
    egress: Egress,
) -> Request:
    """Both steps at once, uncached: the slow path for code off the relay's hot path."""
    head = provider.head(base_url, key, endpoint, model, stream=stream)
    headers = dict(head.headers)
    if provider.per_call:
        finished = provider.finish(head, key, body, egress)
        body = finished.body
        headers.update(finished.fields)
    return Request(head.url, headers, body, head.encoded)


def unserved(provider: object, endpoint: Endpoint) -> ValueError:
    return ValueError(f"{type(provider).__name__} does not serve the {endpoint} endpoint")
