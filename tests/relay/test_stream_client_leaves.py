"""A client that leaves a stream. Some leave on the stream's end mark (``data: [DONE]``,
``message_stop``) without waiting for the response's own end, which comes after the
upstream's; the gateway then sees its call cancelled. Such a call had the whole stream: its
usage row is a 200, not a 499 (a client that leaves midway). Either way the request is
counted in the metrics (and logged), under the status line the client was sent."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakes.chat_streams import STREAMS
from fakes.scripted import Raw, ScriptedServer
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import usage_statuses

# Client format -> (route, body, the line of its stream's real end, metrics surface).
CLIENTS = {
    "openai": ("/v1/chat/completions", "data: [DONE]", "openai_chat"),
    "anthropic": ("/v1/messages", "event: message_stop", "anthropic"),
}
LINGER = 3.0  # the upstream ends its response this long after its last event


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The module's gateway, with its access log on."""
    data_dir: Path = tmp_path_factory.mktemp("data")
    with Gateway(database_url, data_dir, access_log=True) as running:
        yield running


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def requests_counted(gateway: Gateway, surface: str) -> float:
    text = httpx.get(gateway.url + "/metrics").text
    pattern = r"^airelay_requests_total\{([^}]*)\} (\S+)$"
    for labels, value in re.findall(pattern, text, re.MULTILINE):
        if f'surface="{surface}"' in labels and 'status="200"' in labels:
            return float(value)
    return 0.0


def leave(gateway: Gateway, key: str, route: str, model: str, at: str) -> tuple[str, list[str]]:
    """Stream from ``route`` and close the connection on the first line that starts with
    ``at``: the request id, and the lines read."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 50,
        "stream": True,
    }
    lines: list[str] = []
    with httpx.Client(base_url=gateway.url, timeout=20) as http:
        headers = {"Authorization": f"Bearer {key}"}
        with http.stream("POST", route, json=body, headers=headers) as response:
            assert response.status_code == 200
            request_id = response.headers["x-request-id"]
            for line in response.iter_lines():
                lines.append(line)
                if line.startswith(at):
                    break
    return request_id, lines


@pytest.mark.parametrize("whole", [True, False], ids=["on-the-end-mark", "midway"])
@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_client_that_leaves_a_stream(
    gateway: Gateway,
    admin: Admin,
    server: ScriptedServer,
    client: str,
    whole: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route, end, surface = CLIENTS[client]
    model = unique_model(f"leave-{client}")
    base_url = server.origin + ("/v1" if client == "openai" else "")
    admin.create_channel(type=client, base_url=base_url, api_keys=["sk-up"], models=[model])
    server.script(Raw.sse(*STREAMS[client](model, cut=not whole), linger=LINGER))
    user = admin.create_user()
    key = str(admin.create_token(user["id"])["key"])
    counted = requests_counted(gateway, surface)
    caplog.set_level(logging.INFO, logger="airelay.access")
    started = time.monotonic()
    # Whole: the client leaves on the end mark. Midway: on the first data line, while the
    # upstream has more to say (an end that never comes in time).
    request_id, lines = leave(gateway, key, route, model, end if whole else "data:")
    assert time.monotonic() - started < LINGER  # it left before the upstream's end
    assert lines[-1] == end or not whole
    assert usage_statuses(gateway.settings.database_url, user["id"]) == [200 if whole else 499]
    # The request counted, under the status line it was sent, once its handler ended.
    deadline = time.monotonic() + 10
    while requests_counted(gateway, surface) == counted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests_counted(gateway, surface) == counted + 1
    # ... and logged (with the usage the stream reported; a cut one's is counted later).
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "airelay.access"]
    (entry,) = [e for e in logged if e["request_id"] == request_id]
    assert (entry["status"], entry["model"]) == (200, model)
    assert not whole or entry["completion_tokens"] == 11
