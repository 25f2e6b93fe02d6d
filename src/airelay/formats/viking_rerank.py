"""The rerank of Volcengine's knowledge service (VikingDB knowledge base, ``POST
/api/knowledge/service/rerank``: Doubao ``doubao-seed-rerank``, ``base-multilingual-rerank``,
``m3-v2-rerank``), as a ``Bridge`` from the Jina/Cohere-style rerank clients speak. It
shares nothing with Jina's shape:

- Request: ``{"datas": [{"query", "content", "title"?}], "rerank_model"}``: one pair per
  document, the query repeated in each (at most 200 pairs).
- Answer: ``{"code": 0, "message", "request_id", "data": {"scores": [...],
  "token_usage"}}``: one score per pair, in the order sent, not ranked; a ``code`` other
  than 0 is a failure.
- Error: ``{"code": <number>, "message", "request_id"}``.

The gateway ranks (highest score first, ties in the client's order), cuts at ``top_n``,
adds the documents when asked, and gives the client the seed's shape with the tokens in
``usage.total_tokens`` and ``meta.tokens_used``.
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats import rerank
from airelay.formats.passthrough import json_object
from airelay.formats.usage import Usage
from airelay.formats.wire import Request


class VikingRerank:
    def request(self, request: Request, upstream_model: str) -> bytes:
        payload = request.payload
        query = payload["query"]
        datas = [
            {"query": query, "content": rerank.document_text(item) or ""}
            for item in payload["documents"]
        ]
        return orjson.dumps({"datas": datas, "rerank_model": upstream_model})

    def answer(
        self, body: bytes, request: Request, public_model: str
    ) -> tuple[bytes, Usage | None, dict[str, Any]]:
        upstream = json_object(body)
        if upstream.get("code", 0) != 0:
            raise ValueError(f"the upstream reported a failure: {upstream.get('message')}")
        data = upstream.get("data")
        scores = data.get("scores") if isinstance(data, dict) else None
        documents = request.payload["documents"]
        if not isinstance(scores, list) or len(scores) != len(documents):
            raise ValueError("the answer has no 'data.scores' list, one score per document")
        if any(isinstance(s, bool) or not isinstance(s, int | float) for s in scores):
            raise ValueError("a rerank score is not a number")
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        top_n = request.payload.get("top_n")
        ranked = [{"index": i, "relevance_score": scores[i]} for i in order[:top_n]]
        document: dict[str, Any] = {
            "model": public_model,
            "results": rerank.seed_results(ranked, request.payload),
        }
        if isinstance(upstream.get("request_id"), str):
            document["id"] = upstream["request_id"]
        tokens = rerank.count(data.get("token_usage")) if isinstance(data, dict) else None
        if tokens is None:
            return orjson.dumps(document), None, document
        usage = Usage(prompt_tokens=tokens)
        return rerank.with_usage(document, usage), usage, document

    def error(self, status: int, body: bytes) -> bytes:
        return rerank.coded_error(status, body)


BRIDGE = VikingRerank()
