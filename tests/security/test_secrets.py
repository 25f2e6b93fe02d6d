"""Plaintext upstream keys never leave the gateway: not in any response (stream or not,
error or not, admin channel reads, channel test results), not in any log line it writes,
not in any database row.

One fixture drives the traffic once per database (successes and every kind of upstream
failure echoing the key, on all three client surfaces, passed through and translated),
recording every response and every log record; the tests then search them and a dump of
every table for the keys' plaintext and its secret middle.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fakes.anthropic_upstream import FakeAnthropic
from fakes.gemini_upstream import FakeGemini
from fakes.loopback import Behaviour, LoopbackFake
from fakes.openai_upstream import FakeOpenAI
from fakes.scripted import Raw, ScriptedServer
from relay.test_stream_secrets import STREAMS
from sqlalchemy.engine import make_url
from support.admin import Admin, unique_model
from support.gateway import Gateway

FORMATS = ("openai", "anthropic", "gemini")


def new_key(prefix: str) -> str:
    return f"{prefix}-SECRET{uuid.uuid4().hex}"


# The fakes accept their own keys; the channels are given these.
KEYS = {
    "openai": (new_key("sk-proj"), new_key("sk-proj")),
    "anthropic": (new_key("sk-ant-api03"), new_key("sk-ant-api03")),
    "gemini": (new_key("AIzaSy"), new_key("AIzaSy")),
    "scripted": (new_key("sk-live"), new_key("sk-live")),
}
ALL_KEYS = [key for pair in KEYS.values() for key in pair]


def needles(key: str) -> list[bytes]:
    """The key, and the part of it that is secret (what a mask must never show)."""
    middle = key.split("SECRET", 1)[1][:-4]
    return [key.encode(), middle.encode()]


def leaks(blob: bytes) -> list[str]:
    return [key for key in ALL_KEYS if any(n in blob for n in needles(key))]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # with the traceback, if any


@dataclass
class Seen:
    responses: list[tuple[str, bytes]] = field(default_factory=list)


@pytest.fixture(scope="module")
def capture() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(scope="module")
def gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, capture: Capture
) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("secrets")
    with Gateway(database_url, data_dir) as running:
        yield running


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, LoopbackFake]]:
    with (
        FakeOpenAI(api_keys=KEYS["openai"]) as openai,
        FakeAnthropic(api_keys=KEYS["anthropic"]) as anthropic,
        FakeGemini(api_keys=KEYS["gemini"]) as gemini,
    ):
        yield {"openai": openai, "anthropic": anthropic, "gemini": gemini}


def call(http: httpx.Client, key: str, client: str, model: str, stream: bool) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    message = {"role": "user", "content": "hi"}
    if client == "openai":
        url = "/v1/chat/completions"
        body: dict[str, Any] = {"model": model, "messages": [message], "stream": stream}
    elif client == "anthropic":
        url = "/v1/messages"
        body = {"model": model, "messages": [message], "max_tokens": 20, "stream": stream}
    else:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"/v1beta/models/{model}:{action}"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    return http.post(url, json=body, headers=headers)


@pytest.fixture(scope="module")
def seen(gateway: Gateway, admin: Admin, fakes: dict[str, LoopbackFake]) -> Iterator[Seen]:
    record = Seen()
    admin_http = admin.http

    def keep(response: httpx.Response) -> httpx.Response:
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        record.responses.append((str(response.request.url), headers.encode() + response.content))
        return response

    with (
        ScriptedServer() as scripted,
        httpx.Client(base_url=gateway.url, timeout=30) as http,
    ):
        models: dict[str, str] = {}
        channels: list[str] = []
        for kind in FORMATS:
            fake = fakes[kind]
            base = fake.base_url  # type: ignore[attr-defined]
            models[kind] = unique_model(f"sec-{kind}")
            created = keep(
                admin_http.post(
                    "/v1/admin/channels",
                    json={
                        "name": f"sec-{kind}",
                        "type": kind,
                        "base_url": base,
                        "api_keys": list(KEYS[kind]),
                        "models": [models[kind]],
                    },
                )
            )
            channels.append(created.json()["id"])
            admin.price(models[kind], {"input": 1, "output": 2})
        for kind in FORMATS:
            models[f"scripted-{kind}"] = unique_model(f"sec-scr-{kind}")
            created = keep(
                admin_http.post(
                    "/v1/admin/channels",
                    json={
                        "name": f"sec-scr-{kind}",
                        "type": kind,
                        "base_url": scripted.origin + ("/v1" if kind == "openai" else ""),
                        "api_keys": list(KEYS["scripted"]),
                        "models": [models[f"scripted-{kind}"]],
                    },
                )
            )
            channels.append(created.json()["id"])
            admin.price(models[f"scripted-{kind}"], {"input": 1, "output": 2})
        # A key rotated in by PATCH shows in its answer masked only.
        keep(
            admin_http.patch(
                f"/v1/admin/channels/{channels[0]}", json={"api_keys": list(KEYS["openai"])}
            )
        )
        user_key = admin.create_token(admin.create_user(balance=50)["id"])["key"]
        time.sleep(0.6)

        errors = [
            Behaviour.error(400, "bad request"),
            Behaviour.error(401, "wrong key"),
            Behaviour.error(429, "slow down", retry_after=0),
            Behaviour.error(500, "broke"),
        ]
        for kind in FORMATS:
            fake = fakes[kind]
            for client in FORMATS:
                for stream in (False, True):
                    keep(call(http, user_key, client, models[kind], stream))  # success
                    for behaviour in errors:
                        fake.script(behaviour)
                        keep(call(http, user_key, client, models[kind], stream))
                        fake.reset()
        # Streams carrying an error event, and 200 answers that are not JSON, echoing the key.
        for kind in FORMATS:
            model = models[f"scripted-{kind}"]
            for client in FORMATS:
                scripted.script(Raw.sse(*STREAMS[kind](model)))
                keep(call(http, user_key, client, model, True))
                scripted.script(Raw.json(b"not json, says the key {key}"))
                keep(call(http, user_key, client, model, False))
                scripted.script(Raw.json(b'{"error": {"message": "key {key} is bad"}}', 401))
                keep(call(http, user_key, client, model, False))
        # Admin reads and channel tests (success, refused key echoed, 200 not an answer).
        keep(admin_http.get("/v1/admin/channels"))
        for channel_id in channels:
            keep(admin_http.get(f"/v1/admin/channels/{channel_id}"))
            scripted.script(Raw.json(b'{"error": {"message": "invalid key {key}"}}', 401))
            keep(admin_http.post(f"/v1/admin/channels/{channel_id}/test"))
            scripted.script(Raw.json(b"<html>{key}</html>"))
            keep(admin_http.post(f"/v1/admin/channels/{channel_id}/test"))
        fakes["openai"].script(Behaviour.error(401, "nope"))
        keep(admin_http.post(f"/v1/admin/channels/{channels[0]}/test"))
        keep(admin_http.get("/v1/admin/usage", params={"limit": 200}))
        models_list = http.get("/v1/models", headers={"Authorization": f"Bearer {user_key}"})
        assert keep(models_list).status_code == 200
        assert len(record.responses) > 120
        yield record


def test_no_response_carries_a_key(seen: Seen) -> None:
    found = [(url, leaks(blob)) for url, blob in seen.responses if leaks(blob)]
    assert not found, found[:5]


def test_no_log_line_carries_a_key(seen: Seen, capture: Capture) -> None:
    time.sleep(0.5)  # what the calls log after answering (billing flush)
    assert capture.lines, "nothing was logged: is the capture working?"
    found = [line for line in capture.lines if leaks(line.encode())]
    assert not found, found[:5]


def test_no_database_row_carries_a_key(seen: Seen, database_url: str) -> None:
    time.sleep(0.5)  # the usage rows of the last calls are flushed
    tables = dump(database_url)
    assert tables.get("channels"), sorted(tables)
    found = {name: leaks(blob) for name, blob in tables.items() if leaks(blob)}
    assert not found, found


def dump(database_url: str) -> dict[str, bytes]:
    """Every row of every table, as bytes (text as UTF-8, binary as it is)."""
    url = make_url(database_url)

    def flat(rows: list[tuple[Any, ...]]) -> bytes:
        out = bytearray()
        for row in rows:
            for value in row:
                out += value if isinstance(value, bytes | memoryview) else repr(value).encode()
                out += str(value).encode() if isinstance(value, str) else b""
                out += b"\x00"
        return bytes(out)

    if url.get_backend_name() == "sqlite":
        assert url.database
        conn = sqlite3.connect(url.database)
        try:
            names = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            return {n: flat(conn.execute(f'SELECT * FROM "{n}"').fetchall()) for n in names}
        finally:
            conn.close()
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def fetch() -> dict[str, bytes]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            names = [
                r["tablename"]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ]
            out = {}
            for name in names:
                records = await conn.fetch(f'SELECT * FROM "{name}"')
                out[name] = flat([tuple(r.values()) for r in records])
            return out
        finally:
            await conn.close()

    return asyncio.run(fetch())
