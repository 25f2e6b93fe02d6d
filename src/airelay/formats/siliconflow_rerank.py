"""SiliconFlow's rerank (``POST {base}/rerank``, ``BAAI/bge-reranker-v2-m3``,
``Qwen/Qwen3-Reranker-8B``...), as a ``Bridge`` from the Jina/Cohere-style rerank clients
speak. It looks like Jina's but differs where a pass-through would break:

- Request: ``documents`` is a list of strings only (a client's ``{"text": ...}`` objects are
  sent as their text); ``top_n``, ``return_documents`` and SiliconFlow's own options
  (``instruction``, ``max_chunks_per_doc``, ``overlap_tokens``) pass on as the client sent
  them.
- Answer: ``{"id", "results": [{"index", "relevance_score", "document": {"text"}}],
  "meta": {"tokens": {"input_tokens", "output_tokens"}, "billed_units": {...}}}``; older
  answers put the counts at the top level instead (``"tokens": {"input_tokens",
  "output_tokens"}``) and no ``meta``. The tokens read are the input tokens (a rerank
  generates none); a document SiliconFlow left out though the client asked for it is the
  client's own.
- Error: ``{"code": <number>, "message", "data"}``.

The client gets the seed's shape: ``results``, the tokens in ``usage.total_tokens`` and
``meta.tokens_used``, and the public model name.
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats import rerank
from airelay.formats.passthrough import json_object
from airelay.formats.usage import Usage
from airelay.formats.wire import Request

# Fields of the seed's request SiliconFlow takes as they are (the rest of the client's
# body is not sent: an unknown field is a 400 there).
_PASSED = ("top_n", "return_documents", "instruction", "max_chunks_per_doc", "overlap_tokens")


def _input_tokens(counts: object) -> Usage | None:
    if isinstance(counts, dict):
        tokens = rerank.count(counts.get("input_tokens"))
        if tokens is not None:
            return Usage(prompt_tokens=tokens)
    return None


def usage_of(document: dict[str, Any]) -> Usage | None:
    """The input tokens of a SiliconFlow answer: ``meta.billed_units``, ``meta.tokens`` or
    the older top-level ``tokens``."""
    meta = document.get("meta")
    if isinstance(meta, dict):
        for name in ("billed_units", "tokens"):
            usage = _input_tokens(meta.get(name))
            if usage is not None:
                return usage
    return _input_tokens(document.get("tokens"))


class SiliconFlowRerank:
    def request(self, request: Request, upstream_model: str) -> bytes:
        payload = request.payload
        body: dict[str, Any] = {
            "model": upstream_model,
            "query": payload["query"],
            "documents": [rerank.document_text(item) or "" for item in payload["documents"]],
        }
        for name in _PASSED:
            if payload.get(name) is not None:
                body[name] = payload[name]
        return orjson.dumps(body)

    def answer(
        self, body: bytes, request: Request, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        upstream = json_object(body)
        rerank.check_results(upstream)
        document: dict[str, Any] = {
            "model": public_model,
            "results": rerank.seed_results(upstream["results"], request.payload),
        }
        if isinstance(upstream.get("id"), str):
            document["id"] = upstream["id"]
        usage = usage_of(upstream)
        if usage is None:
            return orjson.dumps(document), None, document
        return rerank.with_usage(document, usage), usage, document

    def error(self, status: int, body: bytes) -> bytes:
        return rerank.coded_error(status, body)


BRIDGE = SiliconFlowRerank()
