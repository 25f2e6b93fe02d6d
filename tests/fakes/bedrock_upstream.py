"""A fake AWS Bedrock Runtime upstream (Anthropic models through ``InvokeModel``), served over
real HTTP on loopback. Control surface and ``Behaviour`` as the other fakes.

Every request must carry a valid AWS Signature V4 for service ``bedrock`` in ``region``: the
fake recomputes it with botocore from the known credentials (``verify_sigv4``) and answers
403 ``InvalidSignatureException`` otherwise, as AWS does. So does a stale ``X-Amz-Date``, an
unknown access key, or a session token missing from, or not signed into, a request whose
credentials have one.

Routes: ``POST /model/{modelId}/invoke`` answers the Anthropic Messages answer of the
Anthropic fake (same deterministic rules, ``model`` is the model id), with Bedrock's
``x-amzn-bedrock-*-token-count`` headers. The body must be a Messages body for Bedrock:
``"anthropic_version": "bedrock-2023-05-31"`` and neither ``model`` nor ``stream`` (400
``ValidationException`` otherwise). ``/invoke-with-response-stream`` answers the same
answer's Anthropic stream events in AWS event-stream framing (``application/
vnd.amazon.eventstream``), one ``chunk`` message each, the event JSON base64-encoded in
``{"bytes": ...}``. Errors are ``{"message": ...}`` with the ``x-amzn-ErrorType`` header.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .anthropic_upstream import anthropic_answer, message, stream_events
from .eventstream import chunk
from .loopback import Behaviour, LoopbackFake, RecordedRequest

__all__ = ["AwsKey", "Behaviour", "FakeBedrock", "RecordedRequest", "verify_sigv4"]

BEDROCK_VERSION = "bedrock-2023-05-31"
EVENTSTREAM = "application/vnd.amazon.eventstream"
MAX_SKEW = timedelta(minutes=5)
DEFAULT_MODELS = (
    "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "anthropic.claude-think-4-v1:0",
)
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


@dataclass(frozen=True)
class AwsKey:
    access_key: str
    secret_key: str
    token: str | None = None

    @property
    def channel_key(self) -> str:
        """As a gateway channel holds it: ``ID:SECRET`` or ``ID:SECRET:TOKEN``."""
        parts = (self.access_key, self.secret_key, self.token)
        return ":".join(part for part in parts if part)


TEST_KEY = AwsKey("AKIAFAKEBEDROCK00001", "fAkE/SeCrEt+KeY0123456789abcdefghijklmnop")
TEST_TEMPORARY_KEY = AwsKey(
    "ASIAFAKEBEDROCK00002",
    "tEmP/SeCrEt+KeY0123456789abcdefghijklmnop",
    "IQoJb3JpZ2luX2VjEFakeSessionToken/0123456789+abcdefghij==",
)


def verify_sigv4(
    *,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[AwsKey],
    region: str,
    service: str = "bedrock",
    now: datetime | None = None,
    scheme: str = "http",
) -> str | None:
    """Why the request's signature is not valid (None when it is): the signature is
    recomputed with botocore over the signed headers as received, and compared."""
    lower = {name.lower(): value for name, value in headers.items()}
    found = _AUTH.match(lower.get("authorization", ""))
    if found is None:
        return "missing or malformed Authorization header"
    key = next((k for k in keys if k.access_key == found["key"]), None)
    if key is None:
        return "The security token included in the request is invalid."
    if (found["region"], found["service"]) != (region, service):
        return f"Credential should be scoped to a valid region ({region}) and service"
    amz_date = lower.get("x-amz-date", "")
    try:
        stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "missing or malformed X-Amz-Date"
    if abs((now or datetime.now(UTC)) - stamp) > MAX_SKEW or amz_date[:8] != found["date"]:
        return "Signature expired"
    signed = found["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "host and x-amz-date must be signed"
    if key.token is not None and (
        lower.get("x-amz-security-token") != key.token or "x-amz-security-token" not in signed
    ):
        return "The security token included in the request is invalid."
    if any(name not in lower for name in signed):
        return "a signed header is missing"
    request = AWSRequest(
        method=method,
        url=f"{scheme}://{lower['host']}{raw_path}",
        data=body,
        headers={name: lower[name] for name in signed},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key.access_key, key.secret_key, key.token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, found["signature"]):
        return "The request signature we calculated does not match the signature you provided."
    return None


class FakeBedrock(LoopbackFake):
    """``with FakeBedrock() as fake:`` a channel of type ``bedrock`` with
    ``base_url=fake.base_url`` and ``api_keys=[TEST_KEY.channel_key]``."""

    label = "FakeBedrock"

    def __init__(
        self,
        keys: Sequence[AwsKey] = (TEST_KEY, TEST_TEMPORARY_KEY),
        name: str = "fake-bedrock",
        models: Sequence[str] = DEFAULT_MODELS,
        region: str = "us-east-1",
    ) -> None:
        super().__init__([k.access_key for k in keys], name, models)
        self.keys = tuple(keys)
        self.region = region
        self.rejected = 0  # requests refused for their signature

    @property
    def base_url(self) -> str:
        return self.origin

    def reset(self) -> None:
        super().reset()
        self.rejected = 0

    @property
    def invoke_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/invoke")]

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model_id}/invoke", self._invoke)
        app.router.add_post("/model/{model_id}/invoke-with-response-stream", self._stream)

    def headers(self, **extra: str) -> dict[str, str]:
        return super().headers(**{"x-amzn-RequestId": secrets.token_hex(16), **extra})

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        kind = type_ or _ERROR_TYPES.get(status, "InternalServerException")
        return web.json_response(
            {"message": message}, status=status, headers=self.headers(**{"x-amzn-ErrorType": kind})
        )

    async def _signed(self, request: web.Request) -> tuple[object, Behaviour, web.Response | None]:
        body, behaviour = await self.record(request)
        problem = verify_sigv4(
            method=request.method,
            raw_path=request.raw_path,
            headers=request.headers,
            body=self.requests[-1].raw,
            keys=self.keys,
            region=self.region,
        )
        if problem is not None:
            self.rejected += 1
            return body, behaviour, self.error(403, problem, "InvalidSignatureException")
        return body, behaviour, None

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, stream=False)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, stream=True)

    async def _answer(self, request: web.Request, *, stream: bool) -> web.StreamResponse:
        body, behaviour, refused = await self._signed(request)
        if refused is not None:
            return refused
        early = await self.before(request, behaviour, request.headers["authorization"])
        if early is not None:
            return early
        model_id = request.match_info["model_id"]
        if model_id not in self.models:
            return self.error(400, "The provided model identifier is invalid.")
        if not isinstance(body, dict):
            return self.error(400, "Malformed input request, please reformat your input.")
        for extraneous in ("model", "stream"):
            if extraneous in body:
                return self.error(400, f"extraneous key [{extraneous}] is not permitted")
        if body.get("anthropic_version") != BEDROCK_VERSION:
            return self.error(400, "invalid anthropic_version")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self.error(400, "messages: field required")
        if not isinstance(body.get("max_tokens"), int):
            return self.error(400, "max_tokens: field required")
        answer = anthropic_answer({**body, "model": model_id})
        if stream:
            pieces = [chunk(_sse_data(event)) for event in stream_events(model_id, answer)]
            return await self.send_stream(request, pieces, behaviour, EVENTSTREAM)
        payload = message(model_id, answer)
        response = await self.send_json(request, payload, behaviour)
        if not response.prepared:  # a dropped answer has sent its head already
            response.headers["x-amzn-bedrock-input-token-count"] = str(answer.input_tokens)
            response.headers["x-amzn-bedrock-output-token-count"] = str(answer.output_tokens)
        return response


def _sse_data(event: bytes) -> dict[str, object]:
    """The JSON of one SSE event of the Anthropic fake (Bedrock sends the event alone)."""
    for line in event.split(b"\n"):
        if line.startswith(b"data: "):
            data = orjson.loads(line[6:])
            assert isinstance(data, dict)
            return data
    raise ValueError(f"no data line in {event!r}")
