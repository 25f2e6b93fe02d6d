"""AWS Bedrock, Anthropic models through ``InvokeModel`` and
``InvokeModelWithResponseStream``, every request signed with AWS Signature V4.

- URL: ``{base_url}/model/{modelId}/invoke`` (``/invoke-with-response-stream`` when
  streamed); the model id (``anthropic.claude-sonnet-4-5-20250929-v1:0``, or an inference
  profile such as ``us.anthropic....``) is percent-encoded in the path, as the AWS SDKs send
  it, and the path goes out exactly as signed.
- Streams come in AWS event-stream framing (``framing``): each ``chunk`` message carries
  one Anthropic stream event, base64-encoded; the formats layer unwraps them.
- Body: the Anthropic Messages body without ``model`` and ``stream`` (the URL says both),
  with ``"anthropic_version": "bedrock-2023-05-31"``. The answer is the Anthropic Messages
  answer, so the channel's wire format is ``anthropic``.
- Key: the channel key holds the AWS credentials, ``ACCESS_KEY_ID:SECRET_ACCESS_KEY``, or
  ``ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN`` for temporary ones.
- Region: read from the host of ``base_url`` (``bedrock-runtime.{region}.amazonaws.com``,
  the FIPS and VPC-endpoint names too); any other host (a private gateway) is signed for
  ``DEFAULT_REGION``.

Signing is botocore's own (``SigV4Auth`` over an ``AWSRequest``, service ``bedrock``): a
signature covers the body and the time, so it is made per call (``per_call``), after the
cached head; one ``SigV4Auth`` is kept per (key, region). botocore (~5 MB once imported)
is imported by the first Bedrock key checked or request signed, not with the gateway.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import orjson

from airelay.formats.names import Endpoint, Framing, WireFormat
from airelay.providers.base import (
    ChannelOptions,
    ClientExtras,
    Egress,
    Finished,
    Forward,
    Head,
    unserved,
)

if TYPE_CHECKING:
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

BEDROCK_VERSION = "bedrock-2023-05-31"
SERVICE = "bedrock"
DEFAULT_REGION = "us-east-1"
_REGION = re.compile(r"(?:^|\.)bedrock-runtime(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.")
# botocore logs the canonical request at DEBUG, and with temporary credentials that holds
# the session token: never let a DEBUG root logger write it out.
logging.getLogger("botocore.auth").setLevel(logging.INFO)


class Bedrock:
    """``base_url`` is the Bedrock Runtime endpoint of a region
    (``https://bedrock-runtime.us-east-1.amazonaws.com``)."""

    formats: Mapping[Endpoint, WireFormat] = {Endpoint.CHAT: WireFormat.ANTHROPIC}
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.CHAT})
    default_endpoints: frozenset[Endpoint] = endpoints
    per_call = True
    key_required = True
    framing = Framing.AWS_EVENTSTREAM

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is not Endpoint.CHAT:
            raise unserved(self, endpoint)
        accept = "application/vnd.amazon.eventstream" if stream else "application/json"
        return Head(
            invoke_url(base_url, model, stream=stream),
            {"Content-Type": "application/json", "Accept": accept},
            True,
        )

    def finish(self, head: Head, key: str, body: bytes, egress: Egress) -> Finished:
        document = orjson.loads(body)
        if not isinstance(document, dict):
            raise ValueError("the request body is not a JSON object")
        document.pop("model", None)
        document.pop("stream", None)
        document["anthropic_version"] = BEDROCK_VERSION
        body = orjson.dumps(document)
        # ``host`` given as the client writes it spares botocore deriving it twice per call.
        headers = {**head.headers, "host": _authority(head.url)}
        request = _botocore().AWSRequest(method="POST", url=head.url, data=body, headers=headers)
        _signer(key, region_of(head.url)).add_auth(request)
        fields = {
            name: request.headers[name] for name in _SIGNATURE_FIELDS if name in request.headers
        }
        return Finished(body, fields)

    def check_key(self, key: str) -> None:
        credentials(key)

    def forward(self, extras: ClientExtras, channel: ChannelOptions) -> Forward | None:
        # Bedrock takes betas as an ``anthropic_beta`` body field, not as a header; a
        # client's header is not passed on.
        return None


_SIGNATURE_FIELDS = ("X-Amz-Date", "X-Amz-Security-Token", "Authorization")


def invoke_url(base_url: str, model: str, *, stream: bool) -> str:
    """The ``InvokeModel`` (or ``InvokeModelWithResponseStream``) URL of ``model``,
    percent-encoded as it goes on the wire, the host in lower case as the signer and the
    Host field write it."""
    action = "invoke-with-response-stream" if stream else "invoke"
    parts = urlsplit(base_url.rstrip("/"))
    root = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    return f"{root}/model/{quote(model, safe='')}/{action}"


@functools.lru_cache(maxsize=256)
def _authority(url: str) -> str:
    """The Host field of a request to ``url``: lower case, the port only when not the
    scheme's default (what the HTTP client writes)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


@functools.lru_cache(maxsize=256)
def region_of(url: str) -> str:
    """The AWS region a Bedrock Runtime URL is in, or ``DEFAULT_REGION``."""
    host = (urlsplit(url).hostname or "").lower()
    found = _REGION.search(host)
    return found.group(1) if found else DEFAULT_REGION


def credentials(key: str) -> Credentials:
    """``ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`` as botocore credentials; raises
    ``ValueError`` (without the key in the message) for any other shape."""
    parts = key.split(":")
    if len(parts) not in (2, 3) or not all(part.strip() == part and part for part in parts):
        raise ValueError(
            "a bedrock key is ACCESS_KEY_ID:SECRET_ACCESS_KEY or "
            "ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN"
        )
    return _botocore().Credentials(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@functools.lru_cache(maxsize=256)
def _signer(key: str, region: str) -> SigV4Auth:
    return _botocore().SigV4Auth(credentials(key), SERVICE, region)


@functools.cache
def _botocore() -> SimpleNamespace:
    """botocore's signing classes, imported on first use."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    return SimpleNamespace(SigV4Auth=SigV4Auth, AWSRequest=AWSRequest, Credentials=Credentials)
