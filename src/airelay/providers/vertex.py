"""Google Vertex AI: Gemini models (channel type ``vertex``) and Anthropic's Claude models
(``vertex_anthropic``), every request carrying a service account's short-lived OAuth access
token.

- ``base_url`` names the project and the region, as the REST resource does:
  ``https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}``
  (``https://aiplatform.googleapis.com/v1/projects/{project}/locations/global`` for the
  global endpoint; any host and path prefix before ``/projects/``, ``v1beta1`` too). The
  channel has no other place for a project or a region, so a ``base_url`` of any other
  shape is refused (``check_base_url``).
- Gemini: ``{base_url}/publishers/google/models/{model}:generateContent``, streamed with
  ``:streamGenerateContent?alt=sse``; the body and answer are the Gemini API's (wire format
  ``gemini``), so one type cannot also serve Claude, whose format differs: hence two types.
- Claude: ``{base_url}/publishers/anthropic/models/{model}:rawPredict`` (``:streamRawPredict``
  when streamed); the body is the Messages body without ``model`` (the URL names it) and
  with ``"anthropic_version": "vertex-2023-10-16"``; ``stream`` stays in the body. The
  answer is the Messages answer (wire format ``anthropic``). Model ids carry their version
  after ``@`` (``claude-sonnet-4-5@20250929``).
- Key: the service account's JSON key file, as one line (``jq -c . key.json``) or base64
  encoded. Its ``token_uri`` is where tokens are asked for (Google's
  ``https://oauth2.googleapis.com/token`` in every real key; a test points it at a fake).

The token comes from google-auth (a JWT signed with the key, exchanged at ``token_uri``) and
is cached per key in ``TOKENS`` (``providers.tokens``): ``finish`` adds it per call, a dict
lookup, and refreshes it in the background before it runs out. The token request goes out
the channel's way, as its calls do (its ``proxy``, its TLS options: the ``Egress`` the relay
gives ``finish``): google-auth, which blocks, runs in a worker thread and hands its one
request back to the event loop, which sends it on the channel's transport.
google-auth is imported by the first Vertex key checked, not with the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import (
    ChannelOptions,
    ClientExtras,
    CredentialError,
    Egress,
    Finished,
    Forward,
    Head,
    Reply,
    unserved,
)
from airelay.providers.tokens import Token, Tokens, unreachable

if TYPE_CHECKING:
    from google.oauth2.service_account import Credentials

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_BASE = re.compile(r"https?://[^/?#]+(?:/[^?#]*)?/projects/[^/?#]+/locations/[^/?#]+/?")
_SHAPE = (
    "a vertex channel's base_url is "
    "https://REGION-aiplatform.googleapis.com/v1/projects/PROJECT/locations/REGION"
)
_FIELDS = {"Content-Type": "application/json"}
#: How long google-auth's thread waits for the loop to send its request (the channel's
#: transport bounds the request itself well within this).
_WAIT_SECONDS = 90.0


class _Vertex:
    """What both Vertex types share: the base URL's shape, the key, the token."""

    endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    default_endpoints: frozenset[Endpoint] = endpoints
    per_call = True
    key_required = True
    framing = Framing.SSE

    def check_key(self, key: str) -> None:
        _credentials(key)

    def check_base_url(self, base_url: str, endpoints: frozenset[Endpoint]) -> None:
        if not _BASE.fullmatch(base_url):
            raise ValueError(_SHAPE)

    def forward(self, extras: ClientExtras, channel: ChannelOptions) -> Forward | None:
        return None

    def _url(self, base_url: str, publisher: str, model: str, action: str) -> str:
        root = base_url.rstrip("/")
        return f"{root}/publishers/{publisher}/models/{quote(model, safe='@')}:{action}"


class Vertex(_Vertex):
    """Gemini on Vertex AI: the Gemini API's bodies, a Bearer token per call."""

    formats: Mapping[Endpoint, WireFormat] = {Endpoint.CHAT: WireFormat.GEMINI}

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is not Endpoint.CHAT:
            raise unserved(self, endpoint)
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return Head(self._url(base_url, "google", model, action), _FIELDS)

    def finish(self, head: Head, key: str, body: bytes, egress: Egress) -> Finished:
        return Finished(body, {"Authorization": TOKENS.header(key, egress)})


class VertexAnthropic(_Vertex):
    """Claude on Vertex AI: Messages bodies reshaped for ``rawPredict``."""

    formats: Mapping[Endpoint, WireFormat] = {Endpoint.CHAT: WireFormat.ANTHROPIC}

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is not Endpoint.CHAT:
            raise unserved(self, endpoint)
        action = "streamRawPredict" if stream else "rawPredict"
        return Head(self._url(base_url, "anthropic", model, action), _FIELDS)

    def finish(self, head: Head, key: str, body: bytes, egress: Egress) -> Finished:
        authorization = TOKENS.header(key, egress)  # first: a pending token costs no reshaping
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise ValueError("the request body is not a JSON object")
        document.pop("model", None)
        document["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
        return Finished(orjson.dumps(document), {"Authorization": authorization})


def service_account_info(key: str) -> dict[str, Any]:
    """The service account JSON a channel key holds (as JSON, or base64 of it); raises
    ``ValueError`` without the key in the message."""
    text = key.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            text = ""
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        info = None
    shape = "a vertex key is a service account's JSON key (one line, or base64 encoded)"
    if not isinstance(info, dict):
        raise ValueError(shape)
    if info.get("type") != "service_account":
        raise ValueError(shape + ' with "type": "service_account"')
    for field in ("client_email", "private_key"):
        if not isinstance(info.get(field), str) or not info[field]:
            raise ValueError(f'{shape}: "{field}" is missing')
    token_uri = info.get("token_uri")
    if token_uri is not None and (
        not isinstance(token_uri, str) or not token_uri.startswith(("https://", "http://"))
    ):
        raise ValueError(f'{shape}: "token_uri" must be an http(s) URL')
    return info


def _load(key: str) -> Credentials:
    """google-auth's credentials of a key (scoped for Vertex AI): a new object, as a refresh
    writes its token into it."""
    info = service_account_info(key)
    from google.oauth2 import service_account

    load = service_account.Credentials.from_service_account_info
    try:
        credentials: Credentials = load(info, scopes=[SCOPE])  # type: ignore[no-untyped-call]
    except (ValueError, KeyError, TypeError):
        raise ValueError("the vertex key's private_key is not a valid PEM private key") from None
    return credentials


#: A key checked once (``check_key``): the management API checks the same keys again.
_credentials = functools.lru_cache(maxsize=256)(_load)


class _Answer:
    """A reply as google-auth's transport interface gives it (``status``, ``headers``,
    ``data``)."""

    def __init__(self, reply: Reply) -> None:
        self.status = reply.status
        self.headers = reply.headers
        self.data = reply.body


class _Through:
    """google-auth's transport interface (``google.auth.transport.Request``, a callable),
    called in google-auth's worker thread: the request is sent by the event loop through
    the channel's ``egress``, and the thread waits for the answer."""

    def __init__(self, egress: Egress, loop: asyncio.AbstractEventLoop) -> None:
        self._egress = egress
        self._loop = loop

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: object,
    ) -> _Answer:
        if method != "POST":  # a token exchange is one POST; nothing else is expected
            raise CredentialError(f"google-auth asked for a {method[:10]!r} request")
        sent = self._egress.post(url, body or b"", dict(headers or {}))
        future = asyncio.run_coroutine_threadsafe(sent, self._loop)
        try:
            return _Answer(future.result(_WAIT_SECONDS))
        except Exception as exc:  # the transport's own failure, or no answer in time
            future.cancel()
            raise unreachable(exc) from None


async def _fetch(key: str, egress: Egress) -> Token:
    """A new access token for the key's service account, asked through ``egress``."""
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(_exchange, key, _Through(egress, loop))


def _exchange(key: str, request: _Through) -> Token:
    """google-auth's exchange of the signed assertion for a token (blocking: a worker
    thread; its HTTP request goes through ``request``)."""
    from google.auth import exceptions

    try:
        credentials = _load(key)
    except ValueError as exc:
        raise CredentialError(str(exc)) from None
    try:
        credentials.refresh(request)  # type: ignore[no-untyped-call]
    except exceptions.RefreshError as exc:
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else "refused"
        raise CredentialError(f"the token endpoint refused the key: {reason[:300]}") from None
    except exceptions.GoogleAuthError as exc:
        raise CredentialError(
            f"the token endpoint could not be reached ({type(exc).__name__})"
        ) from None
    expiry = credentials.expiry
    if credentials.token is None or expiry is None:
        raise CredentialError("the token endpoint answered without a token")
    now = datetime.now(UTC).replace(tzinfo=None)  # google-auth's expiry is naive UTC
    return Token("Bearer " + credentials.token, (expiry - now).total_seconds())


#: Service-account tokens, per key: shared by both Vertex types (one scope serves both).
TOKENS = Tokens(_fetch)
