"""A fake Google Vertex AI upstream (Gemini and Claude publisher models), served over real HTTP
on loopback; its Bearer tokens are the ones a ``FakeGoogleOAuth`` issued.

Routes, below ``/v1/projects/{project}/locations/{location}/publishers/``:

- ``google/models/{model}:generateContent`` and ``:streamGenerateContent`` (``?alt=sse``:
  SSE events; the Gemini fake's deterministic answers);
- ``anthropic/models/{model}:rawPredict`` and ``:streamRawPredict``: a Messages body for
  Vertex (``"anthropic_version": "vertex-2023-10-16"``, no ``model``: the URL names it),
  the Anthropic fake's answers and SSE events; ``stream`` in the body must match the
  method.

Every request needs ``Authorization: Bearer <token>`` with a token the OAuth fake issued and
that has not expired (401 ``UNAUTHENTICATED`` otherwise), for the project and location the
fake serves (403 ``PERMISSION_DENIED`` / 404 otherwise). Errors are Google's shape
``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .anthropic_upstream import anthropic_answer, message, stream_events
from .gemini_upstream import gemini_answer, generate_response, stream_responses
from .loopback import Behaviour, LoopbackFake, RecordedRequest, dumps
from .token_servers import FakeGoogleOAuth

__all__ = ["Behaviour", "FakeVertex", "RecordedRequest"]

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
_STATUSES |= {404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class FakeVertex(LoopbackFake):
    """``with FakeVertex(oauth) as fake:`` a channel with ``base_url=fake.base_url`` and the
    JSON key of ``oauth.service_account()``."""

    label = "FakeVertex"

    def __init__(
        self,
        oauth: FakeGoogleOAuth,
        project: str = "fake-project",
        location: str = "us-central1",
        models: Sequence[str] = ("gemini-2.5-flash", "claude-sonnet-4-5@20250929"),
    ) -> None:
        super().__init__((), "fake-vertex", models)
        self.oauth = oauth
        self.project = project
        self.location = location
        self.unauthenticated = 0  # requests refused for their token

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1/projects/{self.project}/locations/{self.location}"

    def reset(self) -> None:
        super().reset()
        self.unauthenticated = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(
            "/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}",
            self._call,
        )

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        status_name = type_ or _STATUSES.get(status, "UNKNOWN")
        body = {"error": {"code": status, "message": message, "status": status_name}}
        return web.json_response(body, status=status, headers=self.headers())

    async def _call(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        early = await self.before(request, behaviour, token)
        if early is not None:
            return early
        if not self.oauth.valid(token):
            self.unauthenticated += 1
            return self.error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        info = request.match_info
        if info["project"] != self.project:
            return self.error(403, f"Permission denied on resource project {info['project']}.")
        if info["location"] != self.location:
            return self.error(404, f"Location {info['location']} is not found.")
        model, _, method = info["target"].rpartition(":")
        if model not in self.models:
            return self.error(404, f"Publisher Model `{model}` was not found.")
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON payload received.")
        if info["publisher"] == "google":
            return await self._gemini(request, model, method, body, behaviour)
        if info["publisher"] == "anthropic":
            return await self._claude(request, model, method, body, behaviour)
        return self.error(404, f"Publisher {info['publisher']} is not found.")

    async def _gemini(
        self, request: web.Request, model: str, method: str, body: dict[str, Any], b: Behaviour
    ) -> web.StreamResponse:
        if method not in ("generateContent", "streamGenerateContent"):
            return self.error(404, f"Method not found: {method}")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.error(400, "Unable to submit request because it has an empty contents")
        answer = gemini_answer(model, body)
        if method == "generateContent":
            return await self.send_json(request, generate_response(model, answer), b)
        if request.query.get("alt") != "sse":
            return self.error(400, "this fake streams with ?alt=sse only")
        events = [b"data: " + dumps(c) + b"\r\n\r\n" for c in stream_responses(model, answer)]
        return await self.send_stream(request, events, b, "text/event-stream")

    async def _claude(
        self, request: web.Request, model: str, method: str, body: dict[str, Any], b: Behaviour
    ) -> web.StreamResponse:
        if method not in ("rawPredict", "streamRawPredict"):
            return self.error(404, f"Method not found: {method}")
        if "model" in body:
            return self.error(400, "model: Extra inputs are not permitted")
        if body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
            return self.error(400, "anthropic_version: Input should be 'vertex-2023-10-16'")
        if (body.get("stream") is True) != (method == "streamRawPredict"):
            return self.error(400, "stream must be true exactly for streamRawPredict")
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return self.error(400, "messages: Field required")
        if not isinstance(body.get("max_tokens"), int):
            return self.error(400, "max_tokens: Field required")
        answer = anthropic_answer({**body, "model": model})
        if method == "rawPredict":
            return await self.send_json(request, message(model, answer), b)
        events = stream_events(model, answer)
        return await self.send_stream(request, events, b, "text/event-stream")
