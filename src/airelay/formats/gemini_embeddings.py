"""Gemini embeddings: ``models/{model}:embedContent`` (one content) and
``models/{model}:batchEmbedContents`` (``requests[]``, each naming the model, as the
google-genai SDK always sends), and their translation to and from OpenAI's embeddings.

Request (one, or each of ``requests``): ``content`` (``{"parts": [{"text"}]}``, text parts
only: an embedding of an image or a file is refused), optional ``taskType``, ``title`` and
``outputDimensionality`` (a positive integer). Answer: ``{"embedding": {"values"}}`` or
``{"embeddings": [{"values"}]}``, with ``usageMetadata.promptTokenCount`` when the API
counts it (the gateway writes its own count there when it does not).

Two formats: ``GEMINI_EMBEDDING`` (one content; clients only) and ``GEMINI_EMBEDDINGS``
(the batch; clients and upstreams: the ``gemini`` provider always calls the batch method).
Each pair translates directly (``bridge``), both ways with OpenAI's embeddings:

* a Gemini client on an OpenAI-compatible channel: each content's text parts, joined, are
  one ``input`` string; ``outputDimensionality`` is ``dimensions`` (one value for the whole
  batch: OpenAI's request has one). ``taskType`` and ``title`` are hints to Google's
  models only, which an OpenAI-compatible model has no field for: they are not sent.
* an OpenAI client on a Gemini channel: each ``input`` string is one request;
  ``dimensions`` is every request's ``outputDimensionality``; ``encoding_format: base64``
  is written from the floats (little-endian float32, as OpenAI encodes it). Token-id
  input has no text to send: it is refused (400).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson

from airelay.formats import openai_embeddings
from airelay.formats.gemini_stream import error_body
from airelay.formats.names import WireFormat
from airelay.formats.passthrough import json_object
from airelay.formats.usage import Usage
from airelay.formats.wire import Request

MAX_REQUESTS = 250  # documented cap of one batchEmbedContents call

# ---- requests ---------------------------------------------------------------------------


def check_single(payload: Any) -> None:
    """An ``embedContent`` body; raises ``ValueError`` (a 400 message) otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    _check_one(payload, "")


def check_batch(payload: Any) -> None:
    """A ``batchEmbedContents`` body; raises ``ValueError`` (a 400 message) otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    requests = payload.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ValueError("'requests' is required and must be a non-empty array")
    if len(requests) > MAX_REQUESTS:
        raise ValueError(f"'requests' must have at most {MAX_REQUESTS} items")
    for index, request in enumerate(requests):
        if not isinstance(request, dict):
            raise ValueError(f"'requests[{index}]' must be an object")
        _check_one(request, f"requests[{index}].")


def _check_one(request: dict[str, Any], where: str) -> None:
    content = request.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise ValueError(f"'{where}content.parts' is required and must be a non-empty array")
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise ValueError(f"'{where}content.parts' items must be text parts")
    dimensions = _dimensions_of(request)
    if dimensions is not None and not (
        isinstance(dimensions, int) and not isinstance(dimensions, bool) and dimensions >= 1
    ):
        raise ValueError(f"'{where}outputDimensionality' must be a positive integer")
    for name in ("taskType", "title"):
        if request.get(name) is not None and not isinstance(request.get(name), str):
            raise ValueError(f"'{where}{name}' must be a string")


def _dimensions_of(request: dict[str, Any]) -> Any:
    """``outputDimensionality``, also where newer clients nest it (``embedContentConfig``)."""
    value = request.get("outputDimensionality")
    config = request.get("embedContentConfig")
    if value is None and isinstance(config, dict):
        value = config.get("outputDimensionality")
    return value


def requests_of(payload: dict[str, Any], single: bool) -> list[dict[str, Any]]:
    return [payload] if single else list(payload["requests"])


def text_of(request: dict[str, Any]) -> str:
    return "\n".join(part["text"] for part in request["content"]["parts"])


def prompt_text(payload: dict[str, Any], single: bool) -> str:
    return "\n".join(text_of(request) for request in requests_of(payload, single))


def usage_of(document: dict[str, Any]) -> Usage | None:
    metadata = document.get("usageMetadata")
    tokens = metadata.get("promptTokenCount") if isinstance(metadata, dict) else None
    if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
        return Usage(prompt_tokens=tokens)
    return None


def with_usage(document: dict[str, Any], usage: Usage) -> bytes:
    document["usageMetadata"] = {
        "promptTokenCount": usage.prompt_tokens,
        "totalTokenCount": usage.prompt_tokens,
    }
    return orjson.dumps(document)


def _vectors(document: dict[str, Any]) -> list[list[float]]:
    """The values of a batch answer, in request order."""
    embeddings = document.get("embeddings")
    if not isinstance(embeddings, list):
        raise ValueError("the answer has no 'embeddings' list")
    vectors = []
    for embedding in embeddings:
        values = embedding.get("values") if isinstance(embedding, dict) else None
        if not isinstance(values, list):
            raise ValueError("an embedding has no 'values' list")
        vectors.append(values)
    return vectors


def _answer(vectors: list[list[float]], single: bool) -> dict[str, Any]:
    if single:
        if len(vectors) != 1:
            raise ValueError(f"one embedding was asked for, the answer has {len(vectors)}")
        return {"embedding": {"values": vectors[0]}}
    return {"embeddings": [{"values": values} for values in vectors]}


def _gemini_error(status: int, body: bytes) -> bytes:
    """An upstream error (already scrubbed) of another shape, in Google's."""
    message = body.decode("utf-8", "replace")[:1000]
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]
    return orjson.dumps(error_body(status, message))


# ---- the bodies (a Gemini client on a Gemini channel) -----------------------------------


class GeminiEmbeddingsBody:
    """Gemini embeddings passed through (the batch; the single form is a client's only)."""

    bytes_per_token = 3  # CJK: three UTF-8 bytes, about one token per character
    cache_writes = False

    def __init__(self, name: WireFormat, single: bool) -> None:
        self.name = name
        self.single = single

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        """Each request names the model as the URL does (``models/...``)."""
        payload = request.payload
        model = "models/" + upstream_model
        if self.single:
            return orjson.dumps({**payload, "model": model})
        renamed = [{**item, "model": model} for item in payload["requests"]]
        return orjson.dumps({**payload, "requests": renamed})

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        return 0, 1  # no output tokens

    def prompt_text(self, request: Request) -> str:
        return prompt_text(request.payload, self.single)

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        return with_usage(document, usage)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        if self.single:
            if not isinstance(document.get("embedding"), dict):
                raise ValueError("the answer has no 'embedding' object")
        else:
            _vectors(document)
        return body, usage_of(document), document  # no model named in the answer

    def answer_text(self, document: dict[str, Any]) -> str:
        return ""  # vectors: no generated text


SINGLE_BODY: GeminiEmbeddingsBody = GeminiEmbeddingsBody(WireFormat.GEMINI_EMBEDDING, single=True)
BATCH_BODY: GeminiEmbeddingsBody = GeminiEmbeddingsBody(WireFormat.GEMINI_EMBEDDINGS, single=False)


# ---- bridges ----------------------------------------------------------------------------


class SingleToBatch:
    """A Gemini client's ``embedContent`` on a Gemini channel (always called in batch)."""

    def request(self, request: Request, upstream_model: str) -> bytes:
        one = {**request.payload, "model": "models/" + upstream_model}
        return orjson.dumps({"requests": [one]})

    def answer(
        self, body: bytes, request: Request, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        upstream = json_object(body)
        document = _answer(_vectors(upstream), single=True)
        usage = usage_of(upstream)
        if usage is None:
            return orjson.dumps(document), None, document
        return with_usage(document, usage), usage, document

    def error(self, status: int, body: bytes) -> bytes:
        return body  # Google's shape already


class GeminiToOpenAI:
    """A Gemini client (one content or a batch) on an OpenAI-compatible channel."""

    def __init__(self, single: bool) -> None:
        self.single = single

    def request(self, request: Request, upstream_model: str) -> bytes:
        requests = requests_of(request.payload, self.single)
        sizes = {_dimensions_of(item) for item in requests}
        if len(sizes) > 1:
            raise ValueError(
                "the requests ask for different 'outputDimensionality' values; an "
                "OpenAI-compatible model takes one per call"
            )
        translated: dict[str, Any] = {
            "model": upstream_model,
            "input": [text_of(item) for item in requests],
            "encoding_format": "float",
        }
        dimensions = sizes.pop()
        if dimensions is not None:
            translated["dimensions"] = dimensions
        return orjson.dumps(translated)

    def answer(
        self, body: bytes, request: Request, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        upstream = json_object(body)
        data = upstream.get("data")
        if not isinstance(data, list):
            raise ValueError("the answer has no 'data' list")
        ordered = sorted(data, key=lambda item: item.get("index", 0))
        vectors = []
        for item in ordered:
            values = item.get("embedding") if isinstance(item, dict) else None
            if not isinstance(values, list):
                raise ValueError("an embedding is not a list of floats")
            vectors.append(values)
        if len(vectors) != len(requests_of(request.payload, self.single)):
            raise ValueError("the answer does not have one embedding per input")
        document = _answer(vectors, self.single)
        usage = openai_embeddings.usage_of(upstream)
        if usage is None:
            return orjson.dumps(document), None, document
        return with_usage(document, usage), usage, document

    def error(self, status: int, body: bytes) -> bytes:
        return _gemini_error(status, body)


class OpenAIToGemini:
    """An OpenAI embeddings client on a Gemini channel (``batchEmbedContents``)."""

    def request(self, request: Request, upstream_model: str) -> bytes:
        payload = request.payload
        value = payload["input"]
        texts = [value] if isinstance(value, str) else value
        if not all(isinstance(text, str) for text in texts):
            raise ValueError(
                "token-id input cannot be sent to a Gemini channel: send the text instead"
            )
        model = "models/" + upstream_model
        dimensions = payload.get("dimensions")
        requests = []
        for text in texts:
            one: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                one["outputDimensionality"] = dimensions
            requests.append(one)
        return orjson.dumps({"requests": requests})

    def answer(
        self, body: bytes, request: Request, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        upstream = json_object(body)
        vectors = _vectors(upstream)
        value = request.payload["input"]
        if len(vectors) != (1 if isinstance(value, str) else len(value)):
            raise ValueError("the answer does not have one embedding per input")
        as_base64 = request.payload.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": _base64(values) if as_base64 else values,
            }
            for index, values in enumerate(vectors)
        ]
        document: dict[str, Any] = {"object": "list", "data": data, "model": public_model}
        usage = usage_of(upstream)
        if usage is None:
            return orjson.dumps(document), None, document
        return openai_embeddings.BODY.with_usage(document, usage), usage, document

    def error(self, status: int, body: bytes) -> bytes:
        message = body.decode("utf-8", "replace")[:1000]
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = None
        error = document.get("error") if isinstance(document, dict) else None
        code = None
        if isinstance(error, dict):
            if isinstance(error.get("message"), str):
                message = error["message"]
            if isinstance(error.get("status"), str):
                code = error["status"].lower()
        kind = "invalid_request_error" if status < 500 else "api_error"
        return orjson.dumps({"error": {"message": message, "type": kind, "code": code}})


def _base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


SINGLE_TO_BATCH = SingleToBatch()
SINGLE_TO_OPENAI = GeminiToOpenAI(single=True)
BATCH_TO_OPENAI = GeminiToOpenAI(single=False)
OPENAI_TO_GEMINI = OpenAIToGemini()
