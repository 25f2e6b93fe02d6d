"""Rerank (``POST /v1/rerank``) as Jina and Cohere define it: the request's checks, the
``Body`` the relay passes through to a Jina/Cohere-style upstream, and the usage read from
either answer.

Request: ``model``; ``query`` (a non-empty string); ``documents`` (1 to ``MAX_DOCUMENTS``
strings or ``{"text": ...}`` objects); optional ``top_n`` (a positive integer) and
``return_documents`` (a boolean). Other fields pass through untouched.

Answer: ``{"results": [{"index", "relevance_score", "document": {"text"}}], ...}`` with the
usage where each upstream puts it: Jina's ``usage.total_tokens``, the ``meta.tokens_used``
of relays that copy the seed, Cohere's ``meta.billed_units`` (``input_tokens`` when given;
``search_units`` alone counts no tokens, and the call is then counted offline). A rerank
generates nothing: it is priced on its input alone (plus the model's per-request price,
which is how a per-search price is set).
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.names import WireFormat
from airelay.formats.passthrough import json_object, renamed
from airelay.formats.usage import Usage
from airelay.formats.wire import Request

MAX_DOCUMENTS = 1000


def check_request(payload: Any) -> str:
    """The model of a valid request; raises ``ValueError`` (a 400 message) otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    query = payload.get("query")
    if not isinstance(query, str) or not query:
        raise ValueError("'query' is required and must be a non-empty string")
    documents = payload.get("documents")
    if not isinstance(documents, list) or not documents:
        raise ValueError("'documents' is required and must be a non-empty array")
    if len(documents) > MAX_DOCUMENTS:
        raise ValueError(f"'documents' must have at most {MAX_DOCUMENTS} items")
    for document in documents:
        if document_text(document) is None:
            raise ValueError("'documents' items must be strings or objects with a 'text' string")
    top_n = payload.get("top_n")
    if top_n is not None and not (
        isinstance(top_n, int) and not isinstance(top_n, bool) and top_n >= 1
    ):
        raise ValueError("'top_n' must be a positive integer")
    if not isinstance(payload.get("return_documents", False), bool):
        raise ValueError("'return_documents' must be a boolean")
    return model


def document_text(document: Any) -> str | None:
    """The text of one document as a client may send it: a string or ``{"text": ...}``."""
    if isinstance(document, str):
        return document
    if isinstance(document, dict) and isinstance(document.get("text"), str):
        text: str = document["text"]
        return text
    return None


def prompt_text(payload: dict[str, Any]) -> str:
    """The query and every document, for an estimate: a reranker reads the query once per
    document, so it is counted once per document."""
    query = payload.get("query")
    query = query if isinstance(query, str) else ""
    parts = []
    for document in payload.get("documents") or ():
        parts.append(query)
        parts.append(document_text(document) or "")
    return "\n".join(parts)


def count(value: object) -> int | None:
    """A token count as an answer may write it (an int, or a float that is whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def usage_of(document: dict[str, Any]) -> Usage | None:
    """The input tokens an answer reports, wherever its upstream puts them."""
    usage = document.get("usage")
    if isinstance(usage, dict):
        for name in ("total_tokens", "prompt_tokens", "input_tokens"):
            tokens = count(usage.get(name))
            if tokens is not None:
                return Usage(prompt_tokens=tokens)
    meta = document.get("meta")
    if isinstance(meta, dict):
        tokens = count(meta.get("tokens_used"))
        if tokens is not None:
            return Usage(prompt_tokens=tokens)
        billed = meta.get("billed_units")
        if isinstance(billed, dict):
            tokens = count(billed.get("input_tokens"))
            if tokens is not None:
                return Usage(prompt_tokens=tokens)
    return None


def with_usage(document: dict[str, Any], usage: Usage) -> bytes:
    """``document`` carrying ``usage`` in both places clients read it (Jina's ``usage``,
    the seed's ``meta.tokens_used``)."""
    document["usage"] = {"total_tokens": usage.prompt_tokens}
    meta = document.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["tokens_used"] = usage.prompt_tokens
    document["meta"] = meta
    return orjson.dumps(document)


def seed_results(results: list[Any], payload: dict[str, Any]) -> list[dict[str, Any]]:
    """An upstream's ``results`` (``index``, ``relevance_score``, maybe ``document``) in the
    seed's shape: documents only when the client asked for them, its own text when the
    upstream left it out. Raises ``ValueError`` for a result of the wrong shape."""
    wants_documents = payload.get("return_documents") is True
    documents = payload["documents"]
    translated = []
    for item in results:
        if not isinstance(item, dict):
            raise ValueError("a rerank result is not an object")
        index, score = item.get("index"), item.get("relevance_score")
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < len(documents)
            or isinstance(score, bool)
            or not isinstance(score, int | float)
        ):
            raise ValueError("a rerank result has no valid index or score")
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if wants_documents:
            text = document_text(item.get("document"))
            if text is None:
                text = document_text(documents[index])
            result["document"] = {"text": text}
        translated.append(result)
    return translated


def coded_error(status: int, body: bytes) -> bytes:
    """An upstream error of the ``{"code", "message"}`` kind (DashScope, SiliconFlow) in
    OpenAI's shape; the code kept as a string."""
    message = body.decode("utf-8", "replace")[:1000]
    code: str | None = None
    try:
        upstream = orjson.loads(body)
    except orjson.JSONDecodeError:
        upstream = None
    if isinstance(upstream, dict):
        if isinstance(upstream.get("message"), str):
            message = upstream["message"]
        raw = upstream.get("code")
        if isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool)):
            code = str(raw)
    kind = "invalid_request_error" if status < 500 else "api_error"
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code}})


def check_results(document: dict[str, Any]) -> None:
    """Raise ``ValueError`` for an answer without a ``results`` list (not a rerank)."""
    if not isinstance(document.get("results"), list):
        raise ValueError("the answer has no 'results' list")


class RerankBody:
    """Jina/Cohere rerank, passed through: the model renamed, usage read from the answer."""

    name = WireFormat.RERANK
    bytes_per_token = 1  # a one-byte word is a token
    cache_writes = False

    def same_format_body(self, request: Request, upstream_model: str) -> bytes:
        if upstream_model == request.model:
            return request.body
        return orjson.dumps({**request.payload, "model": upstream_model})

    def output_bounds(self, request: Request) -> tuple[int | None, int]:
        return 0, 1  # no output tokens

    def prompt_text(self, request: Request) -> str:
        return prompt_text(request.payload)

    def with_usage(self, document: dict[str, Any], usage: Usage) -> bytes:
        return with_usage(document, usage)

    def whole_usage(
        self, body: bytes, upstream_model: str, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        document = json_object(body)
        check_results(document)
        body = renamed(body, document, upstream_model, public_model)
        return body, usage_of(document), document

    def answer_text(self, document: dict[str, Any]) -> str:
        return ""  # scores: no generated text


BODY: RerankBody = RerankBody()
