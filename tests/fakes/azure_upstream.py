"""A fake Azure OpenAI resource, served over real HTTP on loopback: the OpenAI fake's answers
on Azure's paths, with Azure's two ways in.

Routes:

- the deployments API: ``POST /openai/deployments/{deployment}/chat/completions`` and
  ``/embeddings``, each with ``?api-version=`` one of ``api_versions`` (404 ``Resource not
  found`` otherwise, as Azure answers an unknown version); an unknown deployment is 404
  ``DeploymentNotFound``;
- the v1 API: ``POST /openai/v1/chat/completions``, ``/responses``, ``/responses/compact``,
  ``/embeddings`` (the body's ``model`` is the deployment).

Auth: an ``api-key`` header holding one of ``api_keys``, or ``Authorization: Bearer`` with a
token the ``FakeEntra`` issued that has not expired; else 401.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from .loopback import Behaviour, RecordedRequest
from .openai_upstream import FakeOpenAI
from .token_servers import FakeEntra

__all__ = ["Behaviour", "FakeAzure", "RecordedRequest"]

API_VERSIONS = ("2024-10-21", "2025-04-01-preview")


class FakeAzure(FakeOpenAI):
    """``with FakeAzure(entra) as fake:`` a channel with ``base_url=fake.endpoint`` (or
    ``fake.v1_base_url``)."""

    label = "FakeAzure"

    def __init__(
        self,
        entra: FakeEntra,
        api_keys: Sequence[str] = ("0123456789abcdef0123456789abcdef",),
        deployments: Sequence[str] = ("gpt-4o-mini-prod", "text-embedding-3-small"),
    ) -> None:
        super().__init__(api_keys, "fake-azure", deployments)
        self.entra = entra
        self.api_versions = API_VERSIONS
        self.unauthenticated = 0

    @property
    def endpoint(self) -> str:
        """What the Azure portal shows as the resource's endpoint."""
        return self.origin

    @property
    def v1_base_url(self) -> str:
        return f"{self.origin}/openai/v1"

    def reset(self) -> None:
        super().reset()
        self.unauthenticated = 0

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Chat requests on either API (their recorded paths carry the query)."""
        return [r for r in self.requests if r.path.split("?")[0].endswith("/chat/completions")]

    def add_routes(self, app: web.Application) -> None:
        deployment = "/openai/deployments/{deployment}"
        app.router.add_post(deployment + "/chat/completions", self._chat)
        app.router.add_post(deployment + "/embeddings", self._embeddings)
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        app.router.add_post("/openai/v1/responses", self._responses)
        app.router.add_post("/openai/v1/responses/compact", self._compact)
        app.router.add_post("/openai/v1/embeddings", self._embeddings)

    async def _pre_answer(self, request: web.Request, b: Behaviour) -> web.StreamResponse | None:
        key = request.headers.get("api-key", "")
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if b.kind == "close_immediately":
            return self._drop(request, web.Response(status=200))
        if b.kind == "slow":
            await asyncio.sleep(b.delay_s)
        if b.kind == "error":
            message = f"{b.message} (api key: {key or token or '<none>'}, at {self._url(request)})"
            return self._error(b.status, message, b.type_, b.code, retry_after=b.retry_after)
        deployment = request.match_info.get("deployment")
        version = request.query.get("api-version")
        if deployment is not None:
            if version not in self.api_versions:
                return self._error(404, "Resource not found", code="404")
            if deployment not in self.models:
                message = "The API deployment for this resource does not exist."
                return self._error(404, message, code="DeploymentNotFound")
        elif version not in (None, "preview", "latest"):
            return self._error(400, f"API version {version} is not supported on v1")
        if key and key in self.api_keys:
            return None
        if token and not key and self.entra.valid(token):
            return None
        self.unauthenticated += 1
        message = (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
            "to provide a valid key for an active subscription and use a correct regional "
            "API endpoint for your resource."
        )
        return self._error(401, message, code="401")
