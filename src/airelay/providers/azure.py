"""Azure OpenAI (channel type ``azure``): OpenAI's bodies and answers, Azure's URLs and
credentials.

- ``base_url`` is the resource's endpoint (``https://{resource}.openai.azure.com``, a
  trailing ``/openai`` tolerated), and the channel's settings ride on it, as the channel has
  no other place for them:
  - the classic deployments API: ``{endpoint}/openai/deployments/{deployment}/chat/completions
    ?api-version=...`` (``/embeddings`` likewise); the deployment is the channel's upstream
    model name (``model_mapping`` maps public names to deployments), the API version is
    ``?api-version=`` on ``base_url`` (``API_VERSION`` when absent);
  - the v1 API: a ``base_url`` ending in ``/openai/v1`` is used as the OpenAI SDK uses a
    base URL (``{base_url}/chat/completions``, ``/responses``, ``/embeddings``); the model
    named in the body is the deployment. The Responses API is served on it only (the
    deployments API has no such path), so ``responses`` needs a v1 ``base_url``.
  Any other query on ``base_url`` is refused (``check_base_url``).
- Key, one of:
  - an API key: sent as ``api-key``;
  - Microsoft Entra ID (Azure AD) client credentials, ``TENANT_ID:CLIENT_ID:CLIENT_SECRET``
    or a JSON object ``{"tenant_id", "client_id", "client_secret"}`` that may add an
    ``authority`` (``https://login.microsoftonline.com`` unless set: a sovereign cloud's
    login host, or a test's fake): a token from ``{authority}/{tenant}/oauth2/v2.0/token``
    (client credentials grant, scope ``SCOPE``) is sent as ``Authorization: Bearer``,
    cached per key in ``TOKENS`` and refreshed in the background before it runs out
    (``providers.tokens``). The token request goes out the channel's way, as its calls do:
    its ``proxy`` and TLS options (the ``Egress`` the relay gives ``finish``).

``per_call`` because of Entra tokens; for an API key ``finish`` adds nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

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
    unserved,
)
from airelay.providers.openai import PATHS
from airelay.providers.tokens import Token, Tokens, unreachable

#: The latest generally available API version of the deployments API.
API_VERSION = "2024-10-21"
AUTHORITY = "https://login.microsoftonline.com"
SCOPE = "https://cognitiveservices.azure.com/.default"
_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?|preview|latest")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_V1 = "/openai/v1"
_FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
_NO_FIELDS: Mapping[str, str] = {}
_SHAPE = (
    "an azure key is an API key, TENANT_ID:CLIENT_ID:CLIENT_SECRET, or "
    '{"tenant_id", "client_id", "client_secret"[, "authority"]}'
)


@dataclass(frozen=True, slots=True)
class Entra:
    """Client credentials of a Microsoft Entra ID application."""

    tenant_id: str
    client_id: str
    client_secret: str
    authority: str = AUTHORITY

    @property
    def token_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant_id}/oauth2/v2.0/token"


@dataclass(frozen=True, slots=True)
class _Base:
    root: str  # scheme, host and path prefix, without ``/openai[/v1]``
    version: str | None  # ``api-version`` as given
    v1: bool


class Azure:
    """Azure OpenAI: the OpenAI wire formats on Azure's paths."""

    formats: Mapping[Endpoint, WireFormat] = {
        Endpoint.CHAT: WireFormat.OPENAI,
        Endpoint.RESPONSES: WireFormat.RESPONSES,
        Endpoint.COMPACT: WireFormat.RESPONSES_COMPACT,
        Endpoint.EMBEDDINGS: WireFormat.OPENAI_EMBEDDINGS,
    }
    endpoints: frozenset[Endpoint] = frozenset(
        {Endpoint.CHAT, Endpoint.RESPONSES, Endpoint.EMBEDDINGS}
    )
    default_endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    per_call = True
    key_required = True
    framing = Framing.SSE

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        path = PATHS.get(endpoint)
        if path is None or endpoint not in self.formats:
            raise unserved(self, endpoint)
        base = _base(base_url)
        if base.v1:
            url = base.root + _V1 + path
            if base.version is not None:
                url += "?api-version=" + base.version
        elif endpoint in (Endpoint.RESPONSES, Endpoint.COMPACT):
            raise ValueError("the Responses API needs a v1 base_url (ending in /openai/v1)")
        else:
            deployment = quote(model, safe="")
            version = base.version or API_VERSION
            url = f"{base.root}/openai/deployments/{deployment}{path}?api-version={version}"
        fields = {"Content-Type": "application/json"}
        if entra(key) is None:
            fields["api-key"] = key
        return Head(url, fields)

    def finish(self, head: Head, key: str, body: bytes, egress: Egress) -> Finished:
        if entra(key) is None:
            return Finished(body, _NO_FIELDS)
        return Finished(body, {"Authorization": TOKENS.header(key, egress)})

    def check_key(self, key: str) -> None:
        entra(key)

    def check_base_url(self, base_url: str, endpoints: frozenset[Endpoint]) -> None:
        base = _base(base_url)
        if base.version is not None and not _VERSION.fullmatch(base.version):
            raise ValueError("an azure base_url's api-version is a date (2024-10-21)")
        if Endpoint.RESPONSES in endpoints and not base.v1:
            raise ValueError(
                "an azure channel serves responses on the v1 API only: "
                "its base_url must end in /openai/v1"
            )

    def forward(self, extras: ClientExtras, channel: ChannelOptions) -> Forward | None:
        return None


@functools.lru_cache(maxsize=256)
def _base(base_url: str) -> _Base:
    """The parts of an azure ``base_url``; raises ``ValueError`` for a query other than
    ``api-version``."""
    parts = urlsplit(base_url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if set(query) - {"api-version"}:
        raise ValueError("an azure base_url takes no query but ?api-version=")
    path = parts.path.rstrip("/")
    v1 = path.endswith(_V1)
    path = path.removesuffix(_V1) if v1 else path.removesuffix("/openai")
    root = f"{parts.scheme}://{parts.netloc}{path}"
    return _Base(root, query.get("api-version"), v1)


@functools.lru_cache(maxsize=256)
def entra(key: str) -> Entra | None:
    """The Entra ID client credentials a key holds, or None for an API key; raises
    ``ValueError`` (without the key) for a key of neither shape."""
    if key.startswith("{"):
        try:
            document = orjson.loads(key)
        except orjson.JSONDecodeError:
            raise ValueError(_SHAPE) from None
        if not isinstance(document, dict) or not set(document) <= {
            "tenant_id",
            "client_id",
            "client_secret",
            "authority",
        }:
            raise ValueError(_SHAPE)
        values = [document.get(name) for name in ("tenant_id", "client_id", "client_secret")]
        authority = document.get("authority", AUTHORITY)
        if not isinstance(authority, str) or not authority.startswith(("https://", "http://")):
            raise ValueError("an azure key's authority must be an http(s) URL")
    elif ":" in key:
        values = list(key.split(":", 2))
        authority = AUTHORITY
    else:
        return None
    if len(values) != 3 or not all(isinstance(v, str) and v and v.strip() == v for v in values):
        raise ValueError(_SHAPE)
    tenant, client, secret = (str(v) for v in values)
    if not _TENANT.fullmatch(tenant) or not _TENANT.fullmatch(client):
        raise ValueError("an azure key's tenant and client ids are GUIDs (or a tenant domain)")
    return Entra(tenant, client, secret, authority)


async def _fetch(key: str, egress: Egress) -> Token:
    """A new access token for the key's Entra application, asked through ``egress``."""
    credentials = entra(key)
    if credentials is None:
        raise CredentialError("an API key needs no token")
    form = {
        "grant_type": "client_credentials",
        "client_id": credentials.client_id,
        "client_secret": credentials.client_secret,
        "scope": SCOPE,
    }
    try:
        reply = await egress.post(credentials.token_url, urlencode(form).encode(), _FORM)
    except Exception as exc:  # the transport's failure: named by its type only
        raise unreachable(exc) from None
    try:
        document = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        document = {}
    if reply.status != 200:
        error = str(document.get("error") or "no error code")
        # The first line of AADSTS descriptions names the problem; the rest is trace ids.
        detail = str(document.get("error_description") or "").split("\r\n")[0].split("\n")[0]
        detail = detail.replace(credentials.client_secret, "***")[:300]
        raise CredentialError(
            f"the token endpoint answered HTTP {reply.status} ({error}"
            + (f": {detail})" if detail else ")")
        )
    token = document.get("access_token")
    try:
        seconds = float(document.get("expires_in", 0))
    except (TypeError, ValueError):
        seconds = 0.0
    if not isinstance(token, str) or not token or seconds <= 0:
        raise CredentialError("the token endpoint answered without a usable token")
    return Token("Bearer " + token, seconds)


#: Entra ID tokens, per key.
TOKENS = Tokens(_fetch)
