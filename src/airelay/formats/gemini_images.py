"""Gemini image models (``gemini-2.5-flash-image`` and the like) through
``models/{model}:generateContent``, translated both ways from the OpenAI images request.

Request: the prompt as a user text part, an edit's input images (and its mask, as one more
image) as ``inlineData`` parts after it; ``generationConfig.responseModalities: ["IMAGE"]``,
``candidateCount`` for ``n`` > 1, and ``imageConfig.aspectRatio``: the supported ratio
nearest to the asked ``size`` (Gemini takes a ratio, not pixels). ``quality``, ``style``
and ``response_format`` are the gateway's to honour, not the upstream's.

Answer: every ``inlineData`` part of every candidate is an image (base64 as it came, with
its ``mimeType``); ``usageMetadata`` gives the tokens. A candidate without an image (the
model refused, or answered in text only) adds nothing; an answer without any image is
unusable.
"""

from __future__ import annotations

import base64
from fractions import Fraction
from typing import Any

import orjson

from airelay.formats.images import Built, Generated, ImageAnswer, ImageRequest, Pending
from airelay.formats.names import WireFormat
from airelay.formats.usage import from_gemini

#: The aspect ratios Gemini's image models take (``imageConfig.aspectRatio``).
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def aspect_ratio(size: str | None) -> str | None:
    """The supported ratio nearest to ``WIDTHxHEIGHT`` (None for no size or ``auto``)."""
    if size is None or "x" not in size:
        return None
    width, height = (int(side) for side in size.split("x", 1))
    wanted = Fraction(width, height)

    def distance(ratio: str) -> Fraction:
        w, h = ratio.split(":")
        return abs(Fraction(int(w), int(h)) - wanted)

    return min(ASPECT_RATIOS, key=distance)


def request_body(request: ImageRequest) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": request.prompt}]
    inputs = [*request.images, *([request.mask] if request.mask is not None else [])]
    for image in inputs:
        parts.append(
            {
                "inlineData": {
                    "mimeType": image.content_type or "image/png",
                    "data": base64.b64encode(image.data).decode(),
                }
            }
        )
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    if request.n > 1:
        config["candidateCount"] = request.n
    ratio = aspect_ratio(request.size)
    if ratio is not None:
        config["imageConfig"] = {"aspectRatio": ratio}
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


def read_answer(body: bytes) -> ImageAnswer:
    document = orjson.loads(body)
    if not isinstance(document, dict):
        raise ValueError("the answer is not a JSON object")
    images: list[Generated] = []
    for candidate in document.get("candidates") or ():
        content = candidate.get("content") if isinstance(candidate, dict) else None
        for part in (content or {}).get("parts") or () if isinstance(content, dict) else ():
            inline = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(inline, dict) and isinstance(inline.get("data"), str):
                mime = inline.get("mimeType")
                images.append(
                    Generated(
                        b64=inline["data"], mime=mime if isinstance(mime, str) else "image/png"
                    )
                )
    if not images:
        raise ValueError("the answer holds no image")
    return ImageAnswer(images, from_gemini(document.get("usageMetadata")))


class GeminiImages:
    """A Gemini image model: the OpenAI request translated into ``generateContent``."""

    name = WireFormat.GEMINI_IMAGES
    edits = True

    def url(self, head_url: str, request: ImageRequest) -> str:
        return head_url

    def build(self, request: ImageRequest, upstream_model: str) -> Built:
        # The model is in the URL (the provider's head); the body names none.
        return Built(orjson.dumps(request_body(request)), "application/json")

    def answer(self, body: bytes) -> ImageAnswer | Pending:
        return read_answer(body)

    def poll(self, body: bytes) -> ImageAnswer | Pending:
        raise ValueError("Gemini answers at once; there is no task to poll")


WIRE = GeminiImages()
