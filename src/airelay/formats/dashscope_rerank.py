"""DashScope's native text rerank (Qwen ``gte-rerank``, ``gte-rerank-v2``), as a ``Bridge``
from the Jina/Cohere-style rerank clients speak.

Request: ``{"model", "input": {"query", "documents": [text...]}, "parameters":
{"return_documents", "top_n"}}``. Answer: ``{"output": {"results": [{"index",
"relevance_score", "document": {"text"}}]}, "usage": {"total_tokens"}, "request_id"}``.
Error: ``{"code", "message", "request_id"}``.

The client gets the seed's shape: ``results`` (documents only when asked for), with the
tokens in ``usage.total_tokens`` and ``meta.tokens_used``, and the public model name.
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats import rerank
from airelay.formats.passthrough import json_object
from airelay.formats.usage import Usage
from airelay.formats.wire import Request


class DashScopeRerank:
    def request(self, request: Request, upstream_model: str) -> bytes:
        payload = request.payload
        documents = [rerank.document_text(item) or "" for item in payload["documents"]]
        parameters: dict[str, Any] = {
            "return_documents": bool(payload.get("return_documents", False))
        }
        if payload.get("top_n") is not None:
            parameters["top_n"] = payload["top_n"]
        return orjson.dumps(
            {
                "model": upstream_model,
                "input": {"query": payload["query"], "documents": documents},
                "parameters": parameters,
            }
        )

    def answer(
        self, body: bytes, request: Request, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        upstream = json_object(body)
        output = upstream.get("output")
        results = output.get("results") if isinstance(output, dict) else None
        if not isinstance(results, list):
            raise ValueError("the answer has no 'output.results' list")
        translated = rerank.seed_results(results, request.payload)
        document: dict[str, Any] = {"model": public_model, "results": translated}
        if isinstance(upstream.get("request_id"), str):
            document["id"] = upstream["request_id"]
        usage = rerank.usage_of(upstream)
        if usage is None:
            return orjson.dumps(document), None, document
        return rerank.with_usage(document, usage), usage, document

    def error(self, status: int, body: bytes) -> bytes:
        return rerank.coded_error(status, body)


BRIDGE = DashScopeRerank()
