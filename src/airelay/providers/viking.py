"""Volcengine's knowledge service (VikingDB knowledge base), for its rerank
(``formats.viking_rerank``): ``POST {base_url}/api/knowledge/service/rerank``, each request
signed with Volcengine's HMAC-SHA256 signature (its V4 scheme, service ``air``).

- ``base_url``: the service's host for a region
  (``https://api-knowledgebase.mlp.cn-beijing.volces.com``, BytePlus's
  ``...cn-hongkong.bytepluses.com``).
- Key: the channel key holds the account's access key, ``ACCESS_KEY_ID:SECRET_ACCESS_KEY``,
  or ``ACCESS_KEY_ID:SECRET_ACCESS_KEY:REGION`` for a region other than ``DEFAULT_REGION``.
- Signature: ``X-Date`` (``YYYYMMDDTHHMMSSZ``, UTC) and ``X-Content-Sha256`` (the body's
  SHA-256) are added; the canonical request is ``POST``, the path, the (empty) query, the
  signed fields ``content-type``, ``host``, ``x-content-sha256``, ``x-date`` (lower case,
  sorted, ``name:value`` lines), their names, and the body's hash; the string signed is
  ``HMAC-SHA256``, the time, the scope ``{YYYYMMDD}/{region}/air/request`` and the
  canonical request's SHA-256; the key is HMAC-SHA256 chained over the date, the region,
  the service and ``request``, from the secret key. ``Authorization: HMAC-SHA256
  Credential={access key id}/{scope}, SignedHeaders=..., Signature=...``.

A signature covers the body and the time, so it is made per call (``per_call``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

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

RERANK_PATH = "/api/knowledge/service/rerank"
SERVICE = "air"
DEFAULT_REGION = "cn-north-1"
ALGORITHM = "HMAC-SHA256"
_SIGNED = ("content-type", "host", "x-content-sha256", "x-date")


class VikingKnowledge:
    formats: Mapping[Endpoint, WireFormat] = {Endpoint.RERANK: WireFormat.VIKING_RERANK}
    endpoints: frozenset[Endpoint] = frozenset({Endpoint.RERANK})
    default_endpoints: frozenset[Endpoint] = endpoints
    per_call = True
    key_required = True
    framing = Framing.SSE  # never streamed

    def head(
        self, base_url: str, key: str, endpoint: Endpoint, model: str, *, stream: bool
    ) -> Head:
        if endpoint is not Endpoint.RERANK:
            raise unserved(self, endpoint)
        return Head(base_url.rstrip("/") + RERANK_PATH, {"Content-Type": "application/json"})

    def finish(self, head: Head, key: str, body: bytes, egress: Egress) -> Finished:
        return Finished(body, signature(head.url, head.headers, key, body, time.time()))

    def check_key(self, key: str) -> None:
        access_key(key)

    def forward(self, extras: ClientExtras, channel: ChannelOptions) -> Forward | None:
        return None


def access_key(key: str) -> tuple[str, str, str]:
    """``ACCESS_KEY_ID:SECRET_ACCESS_KEY[:REGION]`` as (id, secret, region); raises
    ``ValueError`` (without the key in the message) for any other shape."""
    parts = key.split(":")
    if len(parts) not in (2, 3) or not all(part.strip() == part and part for part in parts):
        raise ValueError(
            "a vikingdb key is ACCESS_KEY_ID:SECRET_ACCESS_KEY or "
            "ACCESS_KEY_ID:SECRET_ACCESS_KEY:REGION"
        )
    return parts[0], parts[1], parts[2] if len(parts) == 3 else DEFAULT_REGION


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(
    url: str, headers: Mapping[str, str], key: str, body: bytes, now: float
) -> dict[str, str]:
    """The fields that sign a POST of ``body`` to ``url`` at ``now``: ``X-Date``,
    ``X-Content-Sha256`` and ``Authorization``."""
    key_id, secret, region = access_key(key)
    parts = urlsplit(url)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = stamp[:8]
    digest = hashlib.sha256(body).hexdigest()
    values = {
        "content-type": headers.get("Content-Type", "application/json"),
        "host": parts.netloc,
        "x-content-sha256": digest,
        "x-date": stamp,
    }
    signed = ";".join(_SIGNED)
    canonical = "\n".join(
        [
            "POST",
            parts.path or "/",
            parts.query,
            "".join(f"{name}:{values[name]}\n" for name in _SIGNED),
            signed,
            digest,
        ]
    )
    scope = f"{day}/{region}/{SERVICE}/request"
    to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing_key = secret.encode()
    for part in (day, region, SERVICE, "request"):
        signing_key = _hmac(signing_key, part)
    mac = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "X-Date": stamp,
        "X-Content-Sha256": digest,
        "Authorization": (
            f"{ALGORITHM} Credential={key_id}/{scope}, SignedHeaders={signed}, Signature={mac}"
        ),
    }
