"""A fake Gemini (Google AI ``generativelanguage``) upstream, served over real HTTP on
loopback. Control surface and ``Behaviour`` as the OpenAI and Anthropic fakes.

Routes (under ``/v1beta`` and ``/v1``): ``POST models/{model}:generateContent``,
``:streamGenerateContent`` (``?alt=sse``: ``data: {...}\\r\\n\\r\\n`` events; without it a
JSON array written in pieces), ``:countTokens``, ``GET models`` and ``GET models/{model}``.
Auth: ``x-goog-api-key`` header or ``?key=``; none -> 403 ``PERMISSION_DENIED``, a wrong
one -> ``invalid_key_status`` (401 ``UNAUTHENTICATED``; set 400 for the real API's
``INVALID_ARGUMENT``/``API_KEY_INVALID``). Errors: ``{"error": {"code", "message",
"status"}}``.

Answer rules (deterministic):

* text is ``"Hello! You said: " + <text parts of the last user content, space-joined>``;
  when the last content holds ``functionResponse`` parts it is ``"Tool said: " + <the last
  one's response["result" | "output" | "content" | "text"] if a string, else its compact
  JSON>``;
* with ``tools[].functionDeclarations`` (mode not ``NONE``) and no function response last,
  the answer is one whole ``functionCall`` part per declaration, at most 2 (``ANY`` with
  ``allowedFunctionNames`` keeps those), ``args`` ``TOOL_INPUT``, ``finishReason`` STOP;
* models whose name contains ``think`` report ``thoughtsTokenCount`` (words of
  ``REASONING_TEXT``) and, with ``thinkingConfig.includeThoughts``, a first
  ``{"text": REASONING_TEXT, "thought": true}`` part; their first function call carries
  ``thoughtSignature`` ``THOUGHT_SIGNATURE``;
* a ``thoughtSignature`` sent back must be one this upstream gave (or the documented
  ``skip_thought_signature_validator``): another provider's is a 400, as Gemini answers;
* tokens are words: prompt = system + text parts (min 1), candidates = words of the text or
  of the calls' args JSON; text is cut to ``maxOutputTokens`` words with MAX_TOKENS.
  Streams carry cumulative ``usageMetadata`` on every chunk.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .anthropic_upstream import PIECE, TOOL_INPUT
from .loopback import Behaviour, LoopbackFake, RecordedRequest, dumps
from .openai_embeddings import DEFAULT_DIMENSIONS
from .openai_embeddings import vector as embedding_vector
from .openai_payloads import REASONING_TEXT, TOOL_ARGUMENTS, words

__all__ = [
    "REASONING_TEXT",
    "TOOL_INPUT",
    "Behaviour",
    "FakeGemini",
    "RecordedRequest",
    "gemini_answer",
]

THOUGHT_SIGNATURE = "CiQBcsjafakeThoughtSignature"
ACCEPTED_SIGNATURES = frozenset({THOUGHT_SIGNATURE, "skip_thought_signature_validator"})
DEFAULT_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-think-2.5")
_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_RESULT_KEYS = ("result", "output", "content", "text")

Json = dict[str, Any]


def _get(obj: Any, camel: str, snake: str) -> Any:
    """A field by its proto-JSON name or its original (snake_case) one; both are accepted."""
    if not isinstance(obj, dict):
        return None
    return obj[camel] if camel in obj else obj.get(snake)


def _texts(content: Any) -> list[str]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [
        p["text"]
        for p in parts or ()
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]


def _responses(content: Any) -> list[Json]:
    parts = content.get("parts") if isinstance(content, dict) else None
    out = [_get(p, "functionResponse", "function_response") for p in parts or ()]
    return [r for r in out if isinstance(r, dict)]


def _result_text(response: Json) -> str:
    value = response.get("response")
    if isinstance(value, dict):
        for key in _RESULT_KEYS:
            if isinstance(value.get(key), str):
                return str(value[key])
    return json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class GeminiAnswer:
    text: str | None
    calls: tuple[str, ...]
    finish: str
    prompt_tokens: int
    candidates_tokens: int
    thoughts_tokens: int
    thought: str | None  # the thought summary part, when asked for


def _call_names(body: Json) -> tuple[str, ...]:
    config = _get(
        _get(body, "toolConfig", "tool_config"), "functionCallingConfig", "function_calling_config"
    )
    mode = str((config or {}).get("mode", "AUTO")).upper()
    if mode == "NONE":
        return ()
    names: list[str] = []
    for tool in body.get("tools") or ():
        for decl in _get(tool, "functionDeclarations", "function_declarations") or ():
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                names.append(decl["name"])
    allowed = _get(config, "allowedFunctionNames", "allowed_function_names")
    if mode == "ANY" and isinstance(allowed, list):
        names = [n for n in names if n in allowed] or names
    return tuple(names[:2])


def gemini_answer(model: str, body: Json) -> GeminiAnswer:
    """The answer the fake gives to a (valid) generateContent request body."""
    contents = [c for c in body["contents"] if isinstance(c, dict)]
    system = _get(body, "systemInstruction", "system_instruction")
    prompt = max(1, sum(words(t) for c in [system, *contents] for t in _texts(c)))
    config = _get(body, "generationConfig", "generation_config") or {}
    thinking = "think" in model
    thinking_config = _get(config, "thinkingConfig", "thinking_config") or {}
    include = bool(_get(thinking_config, "includeThoughts", "include_thoughts"))
    thought = REASONING_TEXT if thinking and include else None
    thoughts = words(REASONING_TEXT) if thinking else 0
    last = contents[-1] if contents else {}
    results = _responses(last)
    names = () if results else _call_names(body)
    if names:
        done = words(TOOL_ARGUMENTS) * len(names)
        return GeminiAnswer(None, names, "STOP", prompt, done, thoughts, thought)
    if results:
        text = "Tool said: " + _result_text(results[-1])
    else:
        users = [c for c in contents if c.get("role", "user") == "user" and _texts(c)]
        text = "Hello! You said: " + (" ".join(_texts(users[-1])) if users else "")
    finish = "STOP"
    limit = _get(config, "maxOutputTokens", "max_output_tokens")
    if isinstance(limit, int) and limit < words(text):
        text, finish = "".join(PIECE.findall(text)[:limit]).rstrip(), "MAX_TOKENS"
    return GeminiAnswer(text, (), finish, prompt, words(text), thoughts, thought)


def usage_metadata(answer: GeminiAnswer, candidates: int | None = None) -> Json:
    done = answer.candidates_tokens if candidates is None else candidates
    meta: Json = {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": done,
        "totalTokenCount": answer.prompt_tokens + done + answer.thoughts_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}],
    }
    if answer.thoughts_tokens:
        meta["thoughtsTokenCount"] = answer.thoughts_tokens
    return meta


def _candidate(parts: list[Json], finish: str | None) -> Json:
    candidate: Json = {"content": {"parts": parts, "role": "model"}}
    if finish is not None:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return candidate


def _response(model: str, response_id: str, candidate: Json, usage: Json) -> Json:
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def _call_parts(answer: GeminiAnswer) -> list[Json]:
    parts: list[Json] = [{"functionCall": {"name": n, "args": TOOL_INPUT}} for n in answer.calls]
    if parts and answer.thoughts_tokens:  # a thinking model signs its first call
        parts[0]["thoughtSignature"] = THOUGHT_SIGNATURE
    return parts


def generate_response(model: str, answer: GeminiAnswer) -> Json:
    parts: list[Json] = []
    if answer.thought is not None:
        parts.append({"text": answer.thought, "thought": True})
    if answer.text is not None:
        parts.append({"text": answer.text})
    parts += _call_parts(answer)
    candidate = _candidate(parts, answer.finish)
    return _response(model, secrets.token_urlsafe(16), candidate, usage_metadata(answer))


def stream_responses(model: str, answer: GeminiAnswer) -> list[Json]:
    """The chunks of a streamed answer: thought, text word by word (the finish reason on the
    last), or all function calls whole in one chunk; cumulative usage on each."""
    response_id = secrets.token_urlsafe(16)
    chunks: list[Json] = []
    if answer.thought is not None:
        thought = _candidate([{"text": answer.thought, "thought": True}], None)
        chunks.append(_response(model, response_id, thought, usage_metadata(answer, 0)))
    if answer.calls:
        candidate = _candidate(_call_parts(answer), answer.finish)
        return [*chunks, _response(model, response_id, candidate, usage_metadata(answer))]
    pieces = PIECE.findall(answer.text or "") or [""]
    done = 0
    for i, piece in enumerate(pieces):
        done += words(piece)
        finish = answer.finish if i == len(pieces) - 1 else None
        candidate = _candidate([{"text": piece}], finish)
        chunks.append(_response(model, response_id, candidate, usage_metadata(answer, done)))
    return chunks


class FakeGemini(LoopbackFake):
    """``genai.Client(api_key=..., http_options=types.HttpOptions(base_url=fake.base_url,
    api_version="v1beta"))``."""

    label = "FakeGemini"

    def __init__(
        self,
        api_keys: Sequence[str] = ("AIza-upstream-test",),
        name: str = "fake-gemini",
        models: Sequence[str] = DEFAULT_MODELS,
    ) -> None:
        super().__init__(api_keys, name, models)
        self.invalid_key_status = 401

    @property
    def base_url(self) -> str:
        """As the google-genai SDK takes it (it appends ``/{api_version}/models/...``)."""
        return self.origin

    @property
    def generate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if "GenerateContent" in r.path or ":generate" in r.path]

    def add_routes(self, app: web.Application) -> None:
        for version in ("v1beta", "v1"):
            app.router.add_post(f"/{version}/models/{{target}}", self._call)
            app.router.add_get(f"/{version}/models", self._list_models)
            app.router.add_get(f"/{version}/models/{{model}}", self._get_model)

    def url(self, request: web.Request) -> str:
        return f"{self.origin}{request.path_qs}"  # with ?key=..., as a client library logs it

    def headers(self, **extra: str) -> dict[str, str]:
        return super().headers(**{"x-goog-request-id": secrets.token_hex(8), **extra})

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        err: Json = {
            "code": status,
            "message": message,
            "status": type_ or _STATUSES.get(status, "UNKNOWN"),
        }
        if status == self.invalid_key_status and message.startswith("API key not valid"):
            err["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
        return web.json_response({"error": err}, status=status, headers=self.headers())

    async def _checked(
        self, request: web.Request
    ) -> tuple[Any, Behaviour, web.StreamResponse | None]:
        body, behaviour = await self.record(request)
        key = request.headers.get("x-goog-api-key", "") or request.query.get("key", "")
        early = await self.before(request, behaviour, key)
        if early is not None:
            return body, behaviour, early
        if not key:
            msg = (
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API."
            )
            return body, behaviour, self.error(403, msg)
        if key not in self.api_keys:
            msg = "API key not valid. Please pass a valid API key."
            status = self.invalid_key_status
            return body, behaviour, self.error(status, msg, _STATUSES.get(status))
        return body, behaviour, None

    def _invalid(self, body: Any, *, count: bool = False) -> web.Response | None:
        if not isinstance(body, dict):
            return self.error(400, "Invalid JSON payload received.")
        if count and isinstance(
            _get(body, "generateContentRequest", "generate_content_request"), dict
        ):
            body = _get(body, "generateContentRequest", "generate_content_request")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.error(400, "* GenerateContentRequest.contents: contents is not specified\n")
        for i, content in enumerate(contents):
            if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
                return self.error(400, f"* GenerateContentRequest.contents[{i}].parts: required")
            if content.get("role", "user") not in ("user", "model", "function", "tool"):
                return self.error(
                    400, f"Please use a valid role: user, model. (contents[{i}].role)"
                )
            for j, part in enumerate(content["parts"]):
                signature = _get(part, "thoughtSignature", "thought_signature")
                if signature is not None and signature not in ACCEPTED_SIGNATURES:
                    return self.error(
                        400,
                        f"Unable to submit request because Thought signature is not valid. "
                        f"(contents[{i}].parts[{j}])",
                    )
        return None

    async def _call(self, request: web.Request) -> web.StreamResponse:
        body, behaviour, early = await self._checked(request)
        if early is not None:
            return early
        model, _, method = request.match_info["target"].rpartition(":")
        if method == "batchEmbedContents" and model:
            return await self._embed(request, model, body, behaviour)
        if method not in ("generateContent", "streamGenerateContent", "countTokens") or not model:
            return self.error(404, f"Method not found: {request.path}")
        invalid = self._invalid(body, count=method == "countTokens")
        if invalid is not None:
            return invalid
        if method == "countTokens":
            inner = _get(body, "generateContentRequest", "generate_content_request")
            answer = gemini_answer(model, inner if isinstance(inner, dict) else body)
            tokens = answer.prompt_tokens
            details = [{"modality": "TEXT", "tokenCount": tokens}]
            payload = {"totalTokens": tokens, "promptTokensDetails": details}
            return await self.send_json(request, payload, behaviour)
        answer = gemini_answer(model, body)
        if method == "generateContent":
            return await self.send_json(request, generate_response(model, answer), behaviour)
        chunks = [dumps(c) for c in stream_responses(model, answer)]
        if request.query.get("alt") == "sse":
            events = [b"data: " + c + b"\r\n\r\n" for c in chunks]
            return await self.send_stream(request, events, behaviour, "text/event-stream")
        # A JSON array, each element written in two pieces (so readers must buffer).
        pieces: list[bytes] = []
        for i, chunk in enumerate(chunks):
            head = (b"[" if i == 0 else b",\r\n") + chunk
            half = len(head) // 2
            pieces += [head[:half], head[half:]]
        pieces.append(b"]")
        if behaviour.kind == "drop_after":
            behaviour = dataclasses.replace(behaviour, n_chunks=2 * behaviour.n_chunks)
        return await self.send_stream(request, pieces, behaviour, "application/json")

    async def _embed(
        self, request: web.Request, model: str, body: Any, behaviour: Behaviour
    ) -> web.StreamResponse:
        """``batchEmbedContents``: every request must name the URL's model; each vector is
        the fake OpenAI's for the text of its parts (so both fakes agree), cut to
        ``outputDimensionality``. The answer counts no tokens, as the API's often does
        not."""
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return self.error(400, "* BatchEmbedContentsRequest.requests: required")
        vectors = []
        for i, item in enumerate(requests):
            if not isinstance(item, dict) or item.get("model") != f"models/{model}":
                return self.error(
                    400,
                    f"* BatchEmbedContentsRequest.requests[{i}].model: does not match "
                    f"models/{model}",
                )
            parts = (item.get("content") or {}).get("parts")
            if not isinstance(parts, list) or not parts:
                return self.error(400, f"* requests[{i}].content.parts: required")
            text = "\n".join(part.get("text", "") for part in parts)
            size = item.get("outputDimensionality") or DEFAULT_DIMENSIONS
            vectors.append({"values": embedding_vector(text, size)})
        return await self.send_json(request, {"embeddings": vectors}, behaviour)

    def _model(self, model: str) -> Json:
        return {
            "name": f"models/{model}",
            "baseModelId": model,
            "version": "001",
            "displayName": model,
            "description": f"Fake {model}",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
            "thinking": "think" in model,
        }

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        _, behaviour, early = await self._checked(request)
        if early is not None:
            return early
        payload = {"models": [self._model(m) for m in self.models]}
        return await self.send_json(request, payload, behaviour)

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        _, behaviour, early = await self._checked(request)
        if early is not None:
            return early
        model = request.match_info["model"]
        if model not in self.models:
            return self.error(404, f"models/{model} is not found for API version v1beta")
        return await self.send_json(request, self._model(model), behaviour)
