"""A fake Gemini API serving image models, over real HTTP on loopback: ``POST
/v1beta/models/{model}:generateContent`` with ``generationConfig.responseModalities``
holding ``IMAGE`` (400 ``INVALID_ARGUMENT`` without it, as a text-only call to an
image-only model would be refused here), the key in ``x-goog-api-key``.

Answer (Gemini's documented shape): one candidate per ``candidateCount`` (default 1), each
``{"content": {"role": "model", "parts": [{"text"}, {"inlineData": {"mimeType":
"image/png", "data"}}]}, "finishReason": "STOP", "index"}``; image ``i`` is
``png(seed(prompt, i, *sha256 of each input image))``. ``usageMetadata``:
``promptTokenCount`` = words of the prompt + 258 per input image,
``candidatesTokenCount`` = ``IMAGE_TOKENS`` per image. A prompt holding ``refuse`` gets a
candidate with text only (no image).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .images import png, seed
from .loopback import LoopbackFake, RecordedRequest

__all__ = ["IMAGE_TOKENS", "FakeGeminiImages", "RecordedRequest"]

IMAGE_TOKENS = 1290  # what Gemini reports for one 1024x1024 image
TOKENS_PER_INPUT_IMAGE = 258


class FakeGeminiImages(LoopbackFake):
    label = "FakeGeminiImages"

    def __init__(
        self,
        api_keys: Sequence[str] = ("gemini-image-key",),
        name: str = "gemini-images",
        models: Sequence[str] = ("gemini-2.5-flash-image",),
    ) -> None:
        super().__init__(api_keys, name, models)

    @property
    def base_url(self) -> str:
        return self.origin

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{target}", self._generate)

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        codes = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        state = codes.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        return web.json_response(
            {"error": {"code": status, "message": message, "status": state}}, status=status
        )

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        key = request.headers.get("x-goog-api-key", "")
        early = await self.before(request, behaviour, key)
        if early is not None:
            return early
        if key not in self.api_keys:
            return self.error(403, "API key not valid. Please pass a valid API key.")
        model, _, action = request.match_info["target"].partition(":")
        if action != "generateContent" or model not in self.models:
            return self.error(404, f"models/{model} is not found for API version v1beta")
        config = (body or {}).get("generationConfig") or {}
        if "IMAGE" not in (config.get("responseModalities") or ()):
            return self.error(400, "Model only supports IMAGE output: set responseModalities.")
        return await self.send_json(request, answer(body), behaviour)


def answer(body: dict[str, Any]) -> dict[str, Any]:
    parts = body["contents"][-1]["parts"]
    prompt = " ".join(p["text"] for p in parts if "text" in p)
    inputs = [base64.b64decode(p["inlineData"]["data"]) for p in parts if "inlineData" in p]
    extra = [hashlib.sha256(data).hexdigest()[:16] for data in inputs]
    count = int(body["generationConfig"].get("candidateCount") or 1)
    candidates = []
    for index in range(count):
        content: list[dict[str, Any]] = [{"text": "Here is your image."}]
        if "refuse" not in prompt:
            data = base64.b64encode(png(seed(prompt, index, *extra))).decode()
            content.append({"inlineData": {"mimeType": "image/png", "data": data}})
        candidates.append(
            {
                "content": {"role": "model", "parts": content},
                "finishReason": "STOP",
                "index": index,
            }
        )
    images = 0 if "refuse" in prompt else count
    prompt_tokens = max(1, len(prompt.split())) + TOKENS_PER_INPUT_IMAGE * len(inputs)
    return {
        "candidates": candidates,
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": IMAGE_TOKENS * images,
            "totalTokenCount": prompt_tokens + IMAGE_TOKENS * images,
        },
        "modelVersion": "gemini-2.5-flash-image",
    }
