"""Optional OpenTelemetry traces: a span per relayed call reaches a collector over OTLP/HTTP
(a fake one speaking the protobuf encoding) with model, channel, status and tokens and
nothing of the prompt or the keys; with no endpoint, nothing of OpenTelemetry is imported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest
from fakes.openai_upstream import FakeOpenAI
from fakes.otlp_collector import FakeCollector
from support.admin import Admin, unique_model
from support.gateway import Gateway

from airelay.observe.tracing import endpoint_of, open_tracing

PROMPT = "a-prompt-no-span-may-carry-5c1e"


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    with FakeCollector() as running:
        yield running


def test_spans_of_relayed_calls_reach_the_collector(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    upstream: FakeOpenAI,
    collector: FakeCollector,
) -> None:
    data_dir = tmp_path_factory.mktemp("otel")
    with Gateway(database_url, data_dir, otel_endpoint=collector.url) as running:
        admin = Admin(running.url, running.admin_key)
        model = unique_model("otel")
        channel = admin.create_channel(
            base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
        )
        token = admin.create_token()
        key = str(token["key"])
        client = openai.OpenAI(base_url=running.url + "/v1", api_key=key, max_retries=0)
        # The stream first: its handler ends (and its span is made) while the next call
        # waits on the upstream, not while the gateway shuts down.
        stream = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        stream_id = stream.headers["x-request-id"]
        for _ in stream.parse():
            pass
        answer = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": PROMPT}]
        )
        plain_id = answer.headers["x-request-id"]
        refused = httpx.post(
            running.url + "/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": PROMPT}]},
            headers={"Authorization": "Bearer sk-wrong-otel-key"},
        )
        assert refused.status_code == 401
        admin.close()
    # The gateway's shutdown sends what its batch processor still held.
    spans = {span.attributes.get("airelay.request_id"): span for span in collector.spans}
    plain = spans[plain_id]
    assert plain.service == "airelay"
    assert plain.name == f"openai_chat {model}"
    assert plain.attributes["gen_ai.request.model"] == model
    assert plain.attributes["airelay.channel"] == channel["id"]
    assert plain.attributes["airelay.key_id"] == token["id"]
    assert plain.attributes["http.response.status_code"] == 200
    assert plain.attributes["gen_ai.usage.input_tokens"] > 0
    assert plain.attributes["gen_ai.usage.output_tokens"] > 0
    assert 0 < plain.start_ns < plain.end_ns
    streamed = spans[stream_id]
    assert streamed.attributes["gen_ai.usage.output_tokens"] > 0
    assert streamed.attributes["airelay.channel"] == channel["id"]
    # A refused key relays nothing, nor do the management calls: two spans, no more.
    ours = [s for s in collector.spans if s.attributes.get("gen_ai.request.model") == model]
    assert len(ours) == 2
    everything = b"".join(collector.bodies)
    for secret in (PROMPT, key, "sk-upstream-test", "sk-wrong-otel-key", running.admin_key):
        assert secret.encode() not in everything


def test_the_endpoint_setting_and_the_standard_variables() -> None:
    assert endpoint_of(None, {}) is None
    assert endpoint_of("http://c:4318/", {}) == "http://c:4318/v1/traces"
    assert endpoint_of(None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ""
    assert endpoint_of(None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/t"}) == ""
    assert open_tracing(None, {}) is None


def test_an_endpoint_without_the_sdk_leaves_traces_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    assert open_tracing("http://127.0.0.1:9", {}) is None
    assert "airelay[otel]" in caplog.text


def test_off_nothing_of_opentelemetry_is_imported() -> None:
    """The app, the relay and the access record, imported and set up as a gateway does
    with no endpoint: no OpenTelemetry module is loaded (nothing for a call to pay)."""
    code = (
        "import sys\n"
        "import airelay.app, airelay.relay.pipeline, airelay.surfaces.endpoint\n"
        "from airelay.observe import access, tracing\n"
        "access.configure(False, tracing.open_tracing(None, {}))\n"
        "assert access.opened() is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={}
    )
    assert result.stdout.strip() == "[]"
