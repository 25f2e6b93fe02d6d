"""Channel health through a running gateway: a failing channel's circuit opens and failover
skips it, one call probes it after the cool-down and closes it, the admin API shows state,
reason and cool-down end; an upstream key the upstream refuses (401) is disabled alone
while the channel's other key serves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from fakes.loopback import Behaviour
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway

MESSAGES = [{"role": "user", "content": "hi"}]
COOLDOWN = 1.0


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("health")
    with Gateway(
        database_url,
        data_dir,
        circuit_failure_threshold=2,
        circuit_failure_rate=0.0,
        circuit_cooldown_seconds=COOLDOWN,
        upstream_key_disable_seconds=60.0,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def backup() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=("sk-backup-upstream",), name="backup") as fake:
        yield fake


def _ask(client: openai.OpenAI, model: str) -> str:
    """One call, each the first turn of a conversation of its own (no session affinity
    binds it to the channel that served the last one)."""
    global _TURNS
    _TURNS += 1
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"hi {_TURNS}"}]
    )
    return answer.choices[0].message.content or ""


_TURNS = 0


def _sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


def _health(admin: Admin, channel_id: str) -> dict[str, object]:
    response = admin.http.get(f"/v1/admin/channels/{channel_id}")
    assert response.status_code == 200
    health: dict[str, object] = response.json()["health"]
    return health


def test_failover_skips_an_open_circuit_then_one_probe_closes_it(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, backup: FakeOpenAI
) -> None:
    backup.reset()
    model = unique_model("cb")
    first = admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model], priority=1
    )
    admin.create_channel(
        base_url=backup.base_url, api_keys=["sk-backup-upstream"], models=[model], priority=2
    )
    key = str(admin.create_token()["key"])
    client = _sdk(gateway, key)
    upstream.default = Behaviour.error(503, "overloaded")
    for _ in range(2):  # priority 1 fails, the backup answers
        _ask(client, model)
    assert len(upstream.chat_requests) == 2
    health = _health(admin, first["id"])
    assert health["state"] == "open"
    assert "2 failures in a row" in str(health["reason"]) and "503" in str(health["reason"])
    assert isinstance(health["until"], str) and health["until"].endswith("Z")
    assert "sk-upstream-test" not in str(health)

    for _ in range(3):  # open: not even tried
        _ask(client, model)
    assert len(upstream.chat_requests) == 2
    assert len(backup.chat_requests) == 5

    upstream.default = Behaviour.ok()
    time.sleep(COOLDOWN + 0.1)
    assert _health(admin, first["id"])["state"] == "half_open"
    _ask(client, model)
    assert len(upstream.chat_requests) == 3  # the probe
    assert _health(admin, first["id"])["state"] == "closed"
    _ask(client, model)
    assert len(upstream.chat_requests) == 4
    assert len(backup.chat_requests) == 5


def test_a_failed_probe_opens_it_again(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI, backup: FakeOpenAI
) -> None:
    backup.reset()
    model = unique_model("cbp")
    first = admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model], priority=1
    )
    admin.create_channel(
        base_url=backup.base_url, api_keys=["sk-backup-upstream"], models=[model], priority=2
    )
    client = _sdk(gateway, str(admin.create_token()["key"]))
    upstream.default = Behaviour.error(500)
    for _ in range(2):
        _ask(client, model)
    time.sleep(COOLDOWN + 0.1)
    _ask(client, model)
    assert len(upstream.chat_requests) == 3  # the probe, which failed
    health = _health(admin, first["id"])
    assert health["state"] == "open" and str(health["reason"]).startswith("probe failed")
    _ask(client, model)
    assert len(upstream.chat_requests) == 3


def test_every_channel_open_is_503_with_retry_after_in_the_callers_format(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("cba")
    admin.create_channel(base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model])
    key = str(admin.create_token()["key"])
    upstream.default = Behaviour.error(500)
    client = _sdk(gateway, key)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as failed:
            _ask(client, model)
        assert failed.value.status_code == 502
    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": MESSAGES},
    )
    assert response.status_code == 503
    assert 1 <= int(response.headers["Retry-After"]) <= COOLDOWN + 1
    assert response.json()["error"]["message"].startswith("No channel is available")
    assert len(upstream.chat_requests) == 2
    anthropic_answer = httpx.post(
        gateway.url + "/v1/messages",
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        json={"model": model, "max_tokens": 16, "messages": MESSAGES},
    )
    assert anthropic_answer.status_code == 503
    assert anthropic_answer.json()["type"] == "error"
    assert "Retry-After" in anthropic_answer.headers


def test_a_refused_key_is_disabled_alone_while_the_other_key_serves(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("cbk")
    # The fake accepts only sk-upstream-test: the other key is refused with 401.
    channel = admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-revoked-upstream-key", "sk-upstream-test"],
        models=[model],
    )
    client = _sdk(gateway, str(admin.create_token()["key"]))
    for _ in range(6):  # every call answered: the refused key is tried once, then left out
        assert _ask(client, model)
    keys_sent = [request.api_key for request in upstream.chat_requests]
    assert keys_sent.count("sk-revoked-upstream-key") == 1
    assert keys_sent.count("sk-upstream-test") == 6
    health = _health(admin, channel["id"])
    assert health["state"] == "closed"
    keys = health["keys"]
    assert isinstance(keys, list)
    assert keys[0]["state"] == "open" and "401" in keys[0]["reason"]
    assert keys[1]["state"] == "closed"
    assert "sk-revoked-upstream-key" not in str(health)


def test_a_request_the_upstream_refuses_as_wrong_does_not_open_the_circuit(
    gateway: Gateway, admin: Admin, upstream: FakeOpenAI
) -> None:
    model = unique_model("cb4")
    channel = admin.create_channel(
        base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
    )
    client = _sdk(gateway, str(admin.create_token()["key"]))
    upstream.default = Behaviour.error(400, "bad request")
    for _ in range(4):
        with pytest.raises(openai.BadRequestError):
            _ask(client, model)
    assert len(upstream.chat_requests) == 4
    assert _health(admin, channel["id"])["state"] == "closed"


def test_latency_routing_sends_calls_to_the_fastest_channel_of_a_priority(
    tmp_path: Path, upstream: FakeOpenAI, backup: FakeOpenAI
) -> None:
    """Two channels of one priority and equal weight, one answering 0.3 s late: once both
    are measured, every call goes to the fast one."""
    backup.reset()
    with Gateway(sqlite_url(tmp_path), tmp_path, latency_routing=True) as running:
        admin = Admin(running.url, running.admin_key)
        model = unique_model("lat")
        admin.create_channel(
            base_url=upstream.base_url, api_keys=["sk-upstream-test"], models=[model]
        )
        admin.create_channel(
            base_url=backup.base_url, api_keys=["sk-backup-upstream"], models=[model]
        )
        client = _sdk(running, str(admin.create_token()["key"]))
        upstream.default = Behaviour.slow(0.3)
        for _ in range(2):  # an unmeasured channel goes first: one call each
            _ask(client, model)
        assert (len(upstream.chat_requests), len(backup.chat_requests)) == (1, 1)
        for _ in range(8):
            _ask(client, model)
        admin.close()
    assert (len(upstream.chat_requests), len(backup.chat_requests)) == (1, 9)
