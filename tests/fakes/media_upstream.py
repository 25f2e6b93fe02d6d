"""Fake upstreams for rerank and audio, speaking each provider's documented wire format.

``FakeOpenAIMedia`` is ``FakeOpenAI`` plus OpenAI's audio routes and a Jina/Cohere-style
``/v1/rerank`` (Jina's answer: ``{"model", "usage": {"total_tokens"}, "results": [{"index",
"relevance_score", "document": {"text"}}]}``). ``FakeDashScope`` answers DashScope's native
text rerank (``/api/v1/services/rerank/text-rerank/text-rerank``: ``{"output": {"results"}},
"usage": {"total_tokens"}, "request_id"}``, errors ``{"code", "message", "request_id"}``).

Rules, so tests can assert exact values: a document's score is the share of its words found
in the query; a rerank counts one token per word of the query per document plus one per
word of each document. Speech answers ``SPEECH_BYTES_PER_CHARACTER`` bytes per input
character, in ``SPEECH_CHUNK``-byte chunks, with the content type of its format. A
transcription's text names the file's size; ``verbose_json`` reports ``duration`` (the
fake's ``reported_duration`` when set, else none, so that the gateway's measure is billed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from email.parser import BytesParser
from email.policy import default
from typing import Any

from aiohttp import web

from fakes.loopback import Behaviour, LoopbackFake
from fakes.openai_upstream import FakeOpenAI

SPEECH_BYTES_PER_CHARACTER = 100
SPEECH_CHUNK = 4096
AUDIO_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
RERANK_PATH = "/api/v1/services/rerank/text-rerank/text-rerank"


def words(text: str) -> list[str]:
    return text.lower().split()


def score(query: str, document: str) -> float:
    wanted = set(words(query))
    found = words(document)
    return round(sum(word in wanted for word in found) / max(len(found), 1), 6)


def rerank_tokens(query: str, documents: Sequence[str]) -> int:
    return sum(len(words(query)) + len(words(document)) for document in documents)


def ranked(query: str, documents: Sequence[str], top_n: int | None, with_text: bool) -> list[Any]:
    order = sorted(range(len(documents)), key=lambda i: (-score(query, documents[i]), i))
    results = []
    for index in order[: top_n or len(documents)]:
        result: dict[str, Any] = {
            "index": index,
            "relevance_score": score(query, documents[index]),
        }
        if with_text:
            result["document"] = {"text": documents[index]}
        results.append(result)
    return results


def speech_bytes(text: str) -> bytes:
    """The fake's "audio": deterministic bytes, ``SPEECH_BYTES_PER_CHARACTER`` per character."""
    seed = text.encode()
    size = len(text) * SPEECH_BYTES_PER_CHARACTER
    return (seed * (size // max(len(seed), 1) + 1))[:size]


class FakeOpenAIMedia(FakeOpenAI):
    label = "FakeOpenAIMedia"

    def __init__(
        self, api_keys: Sequence[str] = ("sk-upstream-test",), name: str = "media"
    ) -> None:
        super().__init__(api_keys, name)
        self.reported_duration: float | None = None
        self.report_rerank_usage = True
        self.report_transcript_usage = True
        # False: an upstream that ignores ``stream`` and answers every model whole.
        self.streams = True
        # The ``usage`` a whole JSON transcription reports (OpenAI's: duration for
        # whisper-1, tokens for gpt-4o models); None: none.
        self.whole_usage: dict[str, Any] | None = None

    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_post("/v1/rerank", self._rerank)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/audio/transcriptions", self._transcription)
        app.router.add_post("/v1/audio/translations", self._transcription)

    def reset(self) -> None:
        super().reset()
        self.reported_duration = None
        self.report_rerank_usage = True
        self.report_transcript_usage = True
        self.streams = True
        self.whole_usage = None

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return self._error(400, "'query' is required")
        documents = [d if isinstance(d, str) else d["text"] for d in body["documents"]]
        answer: dict[str, Any] = {
            "model": body["model"],
            "results": ranked(
                body["query"], documents, body.get("top_n"), body.get("return_documents", True)
            ),
        }
        if self.report_rerank_usage:
            answer["usage"] = {"total_tokens": rerank_tokens(body["query"], documents)}
        return await self._send_json(request, answer, behaviour)

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not isinstance(body, dict) or not isinstance(body.get("input"), str):
            return self._error(400, "'input' is required")
        if len(body["input"]) > 4096:
            return self._error(400, "input is longer than 4096 characters")
        audio = speech_bytes(body["input"])
        kind = AUDIO_TYPES[body.get("response_format") or "mp3"]
        response = web.StreamResponse(headers={**self._headers(), "Content-Type": kind})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(audio), SPEECH_CHUNK):
            if behaviour.kind == "drop_after" and start // SPEECH_CHUNK >= behaviour.n_chunks:
                return self._drop(request, response)
            await response.write(audio[start : start + SPEECH_CHUNK])
            if behaviour.kind == "slow_stream":
                await asyncio.sleep(behaviour.delay_s)
        await response.write_eof()
        return response

    async def _transcription(self, request: web.Request) -> web.StreamResponse:
        _body, behaviour = await self.record(request)
        early = await self._pre_answer(request, behaviour)
        if early is not None:
            return early
        if not request.content_type.startswith("multipart/form-data"):
            return self._error(400, "the body must be multipart/form-data")
        form, files = _form(request.headers["Content-Type"], self.requests[-1].raw)
        if "file" not in files:
            return self._error(400, "'file' is required")
        size = len(files["file"])
        task = "translate" if request.path.endswith("/translations") else "transcribe"
        text = f"{task}d {size} bytes with {form.get('model')}"
        model = form.get("model") or ""
        if form.get("stream") == "true" and "whisper" not in model and self.streams:
            return await self._transcript_stream(request, text, size, behaviour)
        response_format = form.get("response_format") or "json"
        if response_format == "text":
            return web.Response(text=text + "\n", content_type="text/plain")
        if response_format == "srt":
            srt = f"1\n00:00:00,000 --> 00:00:01,000\n{text}\n\n"
            return web.Response(text=srt, content_type="text/plain")
        if response_format == "vtt":
            vtt = f"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n{text}\n\n"
            return web.Response(text=vtt, content_type="text/plain")
        answer: dict[str, Any] = {"text": text}
        if self.whole_usage is not None:
            answer["usage"] = self.whole_usage
        if response_format == "verbose_json":
            answer.update(task=task, language=form.get("language") or "english", segments=[])
            if self.reported_duration is not None:
                answer["duration"] = self.reported_duration
        return await self._send_json(request, answer, behaviour)

    async def _transcript_stream(
        self, request: web.Request, text: str, size: int, behaviour: Behaviour
    ) -> web.StreamResponse:
        """OpenAI's streamed transcription: one ``transcript.text.delta`` per word, then
        ``transcript.text.done`` with the text and (unless ``report_transcript_usage`` is
        off) token usage: ``transcript_tokens(size, text)``. ``drop_after(n)`` cuts the
        connection after n events."""
        events: list[dict[str, Any]] = []
        pieces = text.split(" ")
        for i, piece in enumerate(pieces):
            delta = piece if i == 0 else " " + piece
            events.append({"type": "transcript.text.delta", "delta": delta, "logprobs": None})
        done: dict[str, Any] = {"type": "transcript.text.done", "text": text}
        if self.report_transcript_usage:
            prompt, completion = transcript_tokens(size, text)
            done["usage"] = {
                "type": "tokens",
                "input_tokens": prompt,
                "input_token_details": {"text_tokens": 0, "audio_tokens": prompt},
                "output_tokens": completion,
                "total_tokens": prompt + completion,
            }
        events.append(done)
        response = web.StreamResponse(
            headers={**self._headers(), "Content-Type": "text/event-stream"}
        )
        await response.prepare(request)
        for sent, event in enumerate(events):
            if behaviour.kind == "drop_after" and sent >= behaviour.n_chunks:
                return self._drop(request, response)
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        await response.write_eof()
        return response


def transcript_tokens(size: int, text: str) -> tuple[int, int]:
    """The fake's token usage for a streamed transcription: one input token per 100 bytes
    of the file, one output token per word."""
    return -(-size // 100), len(text.split(" "))


class FakeDashScope(LoopbackFake):
    """DashScope's native text rerank; ``base_url`` is the compatible-mode URL a channel of
    type ``qwen`` takes."""

    label = "FakeDashScope"

    def __init__(self, api_keys: Sequence[str] = ("sk-dashscope-test",), name: str = "ds") -> None:
        super().__init__(api_keys, name, ("gte-rerank",))

    @property
    def base_url(self) -> str:
        return f"{self.origin}/compatible-mode/v1"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(RERANK_PATH, self._rerank)

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        body = {"code": type_ or "InternalError", "message": message, "request_id": _id()}
        return web.json_response(body, status=status)

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        auth = request.headers.get("Authorization", "")
        if behaviour.kind == "error":
            return self.error(behaviour.status, behaviour.message, behaviour.type_)
        if auth[7:] not in self.api_keys:
            return self.error(401, "Invalid API-key provided.", "InvalidApiKey")
        given = body.get("input") if isinstance(body, dict) else None
        if not isinstance(given, dict) or not isinstance(given.get("query"), str):
            return self.error(400, "input.query is required", "InvalidParameter")
        documents = given.get("documents")
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            return self.error(400, "input.documents must be strings", "InvalidParameter")
        parameters = body.get("parameters") or {}
        results = ranked(
            given["query"],
            documents,
            parameters.get("top_n"),
            parameters.get("return_documents", False),
        )
        answer = {
            "output": {"results": results},
            "usage": {"total_tokens": rerank_tokens(given["query"], documents)},
            "request_id": _id(),
        }
        return web.json_response(answer)


class FakeSiliconFlow(LoopbackFake):
    """SiliconFlow's rerank (``POST /v1/rerank``) as its API reference documents it:
    ``documents`` must be strings; the answer is ``{"id", "results", "meta": {"tokens":
    {"input_tokens", "output_tokens"}, "billed_units": {..., "search_units"}}}``, or with
    ``legacy_usage`` the older shape (a top-level ``"tokens"`` and no ``meta``); errors are
    ``{"code": <number>, "message", "data": null}``."""

    label = "FakeSiliconFlow"

    def __init__(self, api_keys: Sequence[str] = ("sk-sf-test",), name: str = "sf") -> None:
        super().__init__(api_keys, name, ("BAAI/bge-reranker-v2-m3",))
        self.legacy_usage = False

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def reset(self) -> None:
        super().reset()
        self.legacy_usage = False

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/rerank", self._rerank)

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        return web.json_response({"code": 20015, "message": message, "data": None}, status=status)

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        if behaviour.kind == "error":
            return self.error(behaviour.status, behaviour.message)
        if request.headers.get("Authorization", "")[7:] not in self.api_keys:
            return web.json_response(
                {"code": 20012, "message": "Invalid token", "data": None}, status=401
            )
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return self.error(400, "query is required")
        documents = body.get("documents")
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            return self.error(400, "documents must be a list of strings")
        unknown = set(body) - {
            "model",
            "query",
            "documents",
            "top_n",
            "return_documents",
            "instruction",
            "max_chunks_per_doc",
            "overlap_tokens",
        }
        if unknown:
            return self.error(400, f"unknown fields: {sorted(unknown)}")
        results = ranked(
            body["query"], documents, body.get("top_n"), body.get("return_documents", False)
        )
        tokens = {"input_tokens": rerank_tokens(body["query"], documents), "output_tokens": 0}
        answer: dict[str, Any] = {"id": _id(), "results": results}
        if self.legacy_usage:
            answer["tokens"] = tokens
        else:
            answer["meta"] = {
                "tokens": {**tokens, "image_tokens": 0},
                "billed_units": {**tokens, "image_tokens": 0, "search_units": 1},
            }
        return web.json_response(answer)


class FakeViking(LoopbackFake):
    """Volcengine's knowledge-service rerank (``POST /api/knowledge/service/rerank``) as
    documented: every request must carry a valid Volcengine HMAC-SHA256 signature (service
    ``air``) by one of ``access_keys`` (``{id: secret}``), checked here from the request's
    own bytes; ``{"datas": [{"query", "content"}], "rerank_model"}`` (at most 200 pairs)
    is answered ``{"code": 0, "message": "success", "request_id", "data": {"scores" (one per
    pair, in order), "token_usage"}}``; errors are ``{"code": <number>, "message",
    "request_id"}``. ``region`` is the region signatures must be scoped to."""

    label = "FakeViking"

    def __init__(
        self, access_keys: Mapping[str, str] | None = None, region: str = "cn-north-1"
    ) -> None:
        super().__init__((), "viking", ("doubao-seed-rerank",))
        self.access_keys = dict(access_keys or {"AKLTtest": "c2VjcmV0LXRlc3Q="})
        self.region = region

    @property
    def base_url(self) -> str:
        return self.origin

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/knowledge/service/rerank", self._rerank)

    def error(self, status: int, message: str, type_: str | None = None) -> web.Response:
        body = {"code": int(type_ or 1000003), "message": message, "request_id": _id()}
        return web.json_response(body, status=status)

    def _signed(self, request: web.Request, raw: bytes) -> bool:
        auth = request.headers.get("Authorization", "")
        algorithm, _, rest = auth.partition(" ")
        fields = dict(item.strip().split("=", 1) for item in rest.split(",") if "=" in item)
        credential = fields.get("Credential", "").split("/")
        if algorithm != "HMAC-SHA256" or len(credential) != 5:
            return False
        key_id, day, region, service, terminator = credential
        secret = self.access_keys.get(key_id)
        stamp = request.headers.get("X-Date", "")
        digest = hashlib.sha256(raw).hexdigest()
        if (
            secret is None
            or (region, service, terminator) != (self.region, "air", "request")
            or not stamp.startswith(day)
            or request.headers.get("X-Content-Sha256") != digest
        ):
            return False
        names = fields.get("SignedHeaders", "").split(";")
        if not {"host", "x-date", "x-content-sha256"} <= set(names):
            return False
        lines = "".join(f"{n}:{request.headers.get(n, '').strip()}\n" for n in names)
        canonical = "\n".join(
            ["POST", request.path, request.query_string, lines, ";".join(names), digest]
        )
        scope = "/".join(credential[1:])
        to_sign = "\n".join(
            ["HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        signing = secret.encode()
        for part in (day, region, service, terminator):
            signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("Signature", ""))

    async def _rerank(self, request: web.Request) -> web.StreamResponse:
        body, behaviour = await self.record(request)
        if behaviour.kind == "error":
            return self.error(behaviour.status, behaviour.message, behaviour.type_)
        if not self._signed(request, self.requests[-1].raw):
            return self.error(401, "ErrUnauthorized: signature does not match", "1000001")
        datas = body.get("datas") if isinstance(body, dict) else None
        if not isinstance(datas, list) or not datas or len(datas) > 200:
            return self.error(400, "invalid request: datas must hold 1 to 200 items")
        if not all(isinstance(d, dict) and isinstance(d.get("query"), str) for d in datas):
            return self.error(400, "invalid request: query is required")
        query = datas[0]["query"]
        contents = [str(d.get("content", "")) for d in datas]
        answer = {
            "code": 0,
            "message": "success",
            "request_id": _id(),
            "data": {
                "scores": [score(query, content) for content in contents],
                "token_usage": rerank_tokens(query, contents),
            },
        }
        return web.json_response(answer)


def _form(content_type: str, raw: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """A multipart/form-data body read with the standard library's MIME parser (the
    gateway's own reader is what is under test): text fields and files."""
    message = BytesParser(policy=default).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[str(name)] = data
        else:
            fields[str(name)] = data.decode()
    return fields, files


def _id() -> str:
    return secrets.token_hex(8)


__all__ = ["Behaviour", "FakeDashScope", "FakeOpenAIMedia", "FakeSiliconFlow", "FakeViking"]
