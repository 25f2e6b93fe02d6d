"""``GET /health``, ``GET /ready`` and ``GET /metrics`` (no key), and the access log.

Readiness follows the database (cut and mended through a TCP proxy on PostgreSQL), Redis
when one is configured, and the process draining; metrics count what calls did; the access
log has one JSON line per request with ids, model, channel, status and tokens, and never a
prompt, a client key or an upstream key.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from pathlib import Path

import httpx
import openai
import pytest
from aiohttp import web
from fakes.openai_upstream import FakeOpenAI
from sqlalchemy.engine import make_url
from support.admin import Admin, unique_model
from support.databases import create_postgres_database, drop_postgres_database, sqlite_url
from support.gateway import Gateway
from support.redis_server import require_redis
from support.tcp_cut import TcpCut

from airelay.state import STATE
from airelay.surfaces.endpoint import endpoint

SECRET_PROMPT = "the-secret-prompt-words-7f3a"


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition, 0 when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        head, _, body = metric.partition("{")
        if head != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', body))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_health_is_200_without_a_key(gateway: Gateway) -> None:
    response = httpx.get(gateway.url + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


def test_ready_is_200_when_the_database_answers(gateway: Gateway) -> None:
    response = httpx.get(gateway.url + "/ready")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}


def test_ready_is_503_while_draining(gateway: Gateway) -> None:
    assert gateway._runner is not None
    state = gateway._runner.app[STATE]
    state.draining = True
    try:
        response = httpx.get(gateway.url + "/ready")
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert "draining" in response.json()["problems"]
        assert httpx.get(gateway.url + "/health").status_code == 200  # alive all the same
    finally:
        state.draining = False
    assert httpx.get(gateway.url + "/ready").status_code == 200


def test_ready_checks_redis_when_one_is_configured(tmp_path: Path) -> None:
    redis_url = require_redis()
    with Gateway(sqlite_url(tmp_path), tmp_path, redis_url=redis_url) as running:
        response = httpx.get(running.url + "/ready")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "redis": "ok"}
    dead = f"redis://127.0.0.1:{_free_port()}/0"
    down = tmp_path / "down"
    with Gateway(sqlite_url(down), down, redis_url=dead) as running:
        response = httpx.get(running.url + "/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"] == {"database": "ok", "redis": "unavailable"}
        assert body["problems"]["redis"]


def test_ready_follows_the_database_down_and_back_without_a_restart(tmp_path: Path) -> None:
    url = make_url(create_postgres_database())
    try:
        with TcpCut(url.host or "127.0.0.1", url.port or 5432) as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port)
            with Gateway(proxied.render_as_string(hide_password=False), tmp_path) as running:
                assert httpx.get(running.url + "/ready").status_code == 200
                proxy.cut()
                down = httpx.get(running.url + "/ready", timeout=20)
                assert down.status_code == 503
                assert down.json()["checks"] == {"database": "unavailable"}
                assert down.headers["Retry-After"]
                assert httpx.get(running.url + "/health").status_code == 200
                proxy.mend()
                assert httpx.get(running.url + "/ready", timeout=20).status_code == 200
    finally:
        drop_postgres_database(url.render_as_string(hide_password=False))


@pytest.fixture
def priced(admin: Admin, upstream: FakeOpenAI) -> tuple[str, str, str]:
    model = unique_model("ops")
    channel = admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
    )
    return model, str(channel["id"]), str(admin.create_token()["key"])


def test_metrics_count_requests_tokens_cost_and_upstream_latency(
    gateway: Gateway, priced: tuple[str, str, str]
) -> None:
    model, channel_id, key = priced
    before = httpx.get(gateway.url + "/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    ok_before = _sample(before.text, "airelay_requests_total", surface="openai_chat", status="200")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    after = httpx.get(gateway.url + "/metrics").text
    ok_after = _sample(after, "airelay_requests_total", surface="openai_chat", status="200")
    assert ok_after - ok_before == 3
    labels = {"channel": channel_id, "model": model}
    assert _sample(after, "airelay_tokens_total", **labels, kind="prompt") > 0
    assert _sample(after, "airelay_tokens_total", **labels, kind="completion") > 0
    assert _sample(after, "airelay_cost_usd_total", **labels) > 0
    assert _sample(after, "airelay_upstream_latency_seconds_count", **labels) == 3
    assert _sample(after, "airelay_upstream_ttfb_seconds_count", channel=channel_id) == 3
    assert _sample(after, "airelay_request_duration_seconds_count", surface="openai_chat") >= 3
    assert "airelay_inflight_streams" in after
    assert "airelay_usage_flush_lag_seconds" in after
    # No key id and no key in any label.
    assert key not in after and "tok_" not in after


def test_a_request_no_route_serves_is_counted_under_other(gateway: Gateway) -> None:
    before = httpx.get(gateway.url + "/metrics").text
    assert httpx.get(gateway.url + "/v1/no-such-route").status_code == 404
    after = httpx.get(gateway.url + "/metrics").text
    labels = {"surface": "other", "status": "404"}
    counted = _sample(after, "airelay_requests_total", **labels)
    assert counted - _sample(before, "airelay_requests_total", **labels) == 1


def test_a_handler_that_names_no_module_must_be_given_its_surface() -> None:
    """A function compiled to C has no ``__module__``: its label is not guessed."""

    class Compiled:
        __module__ = None  # type: ignore[assignment]

        async def __call__(self, request: web.Request) -> web.StreamResponse:
            raise AssertionError("never called")

    with pytest.raises(ValueError, match="names no module"):
        endpoint(Compiled())
    assert endpoint(Compiled(), surface="ops") is not None


def test_metrics_count_upstream_errors_by_code_and_circuit_states(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, priced: tuple[str, str, str]
) -> None:
    from fakes.loopback import Behaviour

    model, channel_id, key = priced
    upstream.default = Behaviour.error(500)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    for number in range(5):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"hi {number}"}]
            )
    text = httpx.get(gateway.url + "/metrics").text
    errors = _sample(text, "airelay_upstream_errors_total", channel=channel_id, code="500")
    assert errors == 5
    assert _sample(text, "airelay_circuit_state", channel=channel_id, key="") == 2  # open


def test_metrics_count_streams_in_flight(
    gateway: Gateway, upstream: FakeOpenAI, priced: tuple[str, str, str]
) -> None:
    """The gauge is up while a stream is being relayed, and back down once it ends."""
    from fakes.loopback import Behaviour

    model, _, key = priced
    upstream.script(Behaviour.slow_stream(0.3))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    idle = _sample(httpx.get(gateway.url + "/metrics").text, "airelay_inflight_streams")
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    next(iter(stream))  # the first chunk is here: the stream is in flight
    during = _sample(httpx.get(gateway.url + "/metrics").text, "airelay_inflight_streams")
    assert during == idle + 1
    for _ in stream:
        pass
    # The client may read the last event a moment before the gateway's relay returns.
    for _ in range(100):
        after = _sample(httpx.get(gateway.url + "/metrics").text, "airelay_inflight_streams")
        if after == idle:
            break
        time.sleep(0.05)
    assert after == idle


def test_the_access_log_has_ids_and_tokens_and_no_secret(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    upstream: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data_dir = tmp_path_factory.mktemp("access")
    with Gateway(database_url, data_dir, access_log=True) as running:
        admin = Admin(running.url, running.admin_key)
        model = unique_model("acc")
        channel = admin.create_channel(
            base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
        )
        token = admin.create_token()
        key = str(token["key"])
        caplog.set_level(logging.INFO, logger="airelay.access")
        caplog.clear()
        client = openai.OpenAI(base_url=running.url + "/v1", api_key=key, max_retries=0)
        answer = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": SECRET_PROMPT}]
        )
        request_id = answer.headers["x-request-id"]
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": SECRET_PROMPT}], stream=True
        )
        for _ in stream:
            pass
        # A Gemini-style key in the query string, and a refused key.
        httpx.post(
            f"{running.url}/v1beta/models/{model}:generateContent?key={key}",
            json={"contents": [{"parts": [{"text": SECRET_PROMPT}]}]},
        )
        httpx.get(running.url + "/v1/models", headers={"Authorization": "Bearer sk-wrong-key-1"})
        admin.close()
    lines = [record.getMessage() for record in caplog.records if record.name == "airelay.access"]
    entries = [json.loads(line) for line in lines]
    assert len(entries) >= 4
    first = next(entry for entry in entries if entry["request_id"] == request_id)
    assert first["key_id"] == token["id"]
    assert first["model"] == model
    assert first["channel"] == channel["id"]
    assert first["status"] == 200
    assert first["prompt_tokens"] > 0 and first["completion_tokens"] > 0
    assert first["duration_ms"] > 0
    streamed = [e for e in entries if e["path"] == "/v1/chat/completions"]
    assert len(streamed) == 2 and all(e["channel"] == channel["id"] for e in streamed)
    gemini = next(e for e in entries if e["surface"] == "gemini")
    assert "?" not in gemini["path"]
    refused = next(e for e in entries if e["status"] == 401)
    assert refused["key_id"] is None
    everything = "\n".join(lines)
    for secret in (key, "sk-upstream-test", "sk-wrong-key-1", SECRET_PROMPT):
        assert secret not in everything
