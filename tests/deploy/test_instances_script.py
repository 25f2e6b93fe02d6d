"""The multi-instance topology without containers (``scripts/instances.sh``): two
``airelay serve`` processes on one PostgreSQL database and one Redis behind nginx on
loopback, driven as a user would drive them, through the load balancer with the official
SDK. The instances poll the database only once a minute here, so every change that reaches
the other instance within seconds came through Redis."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.databases import create_postgres_database, drop_postgres_database, in_ci
from support.ledger import wait_for_rows
from support.redis_server import require_redis

from airelay.money import usd_to_units

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "instances.sh"
MESSAGES = [{"role": "user", "content": "hello there"}]


def _nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        if in_ci():
            pytest.fail("nginx is required in CI (make test installs it)")
        pytest.skip("nginx is not installed")
    return found


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_ports(count: int) -> int:
    """The first of ``count`` free ports in a row (the script numbers instance ports from
    it), below the kernel's range of ephemeral ports: a port from that range (``bind`` to
    port 0) can be taken by an outgoing connection of the parallel tests before the
    instance or nginx binds it (seen: "address already in use")."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(10_000, max(low - count, 10_001))
        if all(_bindable(port + i) for i in range(count)):
            return port


@dataclass
class Topology:
    lb: str
    instances: list[str]
    admin_key: str
    database_url: str


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    nginx = _nginx()
    redis_url = require_redis()
    database_url = create_postgres_database()
    folder = tmp_path_factory.mktemp("instances")
    first = _free_ports(2)
    second = first + 1
    lb_port = first
    while lb_port in (first, second):
        lb_port = _free_ports(1)
    admin_key = f"mgmt-{secrets.token_hex(16)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRELAY_")}
    env.update(
        AIRELAY_DATABASE_URL=database_url,
        AIRELAY_REDIS_URL=redis_url,
        AIRELAY_SECRET_KEY=secrets.token_hex(32),
        AIRELAY_ADMIN_KEY=admin_key,
        AIRELAY_CONFIG_POLL_SECONDS="60",
        AIRELAY_BILLING_FLUSH_SECONDS="0.05",
        AIRELAY_BIN=str(Path(sys.executable).parent / "airelay"),
        NGINX_BIN=nginx,
        INSTANCES="2",
        FIRST_PORT=str(first),
        LB_PORT=str(lb_port),
    )
    try:
        subprocess.run(
            ["bash", str(SCRIPT), "start", str(folder)], env=env, check=True, timeout=120
        )
        yield Topology(
            f"http://127.0.0.1:{lb_port}",
            [f"http://127.0.0.1:{first}", f"http://127.0.0.1:{second}"],
            admin_key,
            database_url,
        )
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], env=env, timeout=60)
        drop_postgres_database(database_url)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=("sk-upstream-test",)) as fake:
        yield fake


@pytest.fixture(scope="module")
def admin(topology: Topology) -> Iterator[Admin]:
    client = Admin(topology.lb, topology.admin_key)
    yield client
    client.close()


@pytest.fixture(scope="module")
def model(admin: Admin, upstream: FakeOpenAI) -> str:
    name = unique_model("lb")
    admin.create_channel(
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[name],
        price={"input": 1, "output": 2, "per_request": 0.0002},
    )
    return name


def _until(check: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {seconds} s")
        time.sleep(0.01)


def test_every_instance_serves_what_was_configured_through_the_balancer(
    topology: Topology, admin: Admin, model: str
) -> None:
    key = admin.create_token(admin.create_user(balance=1)["id"])["key"]
    for url in topology.instances:  # each instance, asked directly, knows key and model
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=10)
        _until(lambda c=client: _answers(c, model), 5)
    through = openai.OpenAI(base_url=topology.lb + "/v1", api_key=key, max_retries=0)
    chunks = list(
        through.chat.completions.create(model=model, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _answers(client: openai.OpenAI, model: str) -> bool:
    try:
        client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=5)  # type: ignore[arg-type]
        return True
    except openai.APIStatusError:
        return False


def test_a_key_revoked_on_one_instance_stops_on_every_instance(
    topology: Topology, admin: Admin
) -> None:
    token = admin.create_token(admin.create_user(balance=1)["id"])
    headers = {"Authorization": f"Bearer {token['key']}"}
    with httpx.Client(timeout=5) as http:
        for url in topology.instances:
            _until(lambda u=url: http.get(u + "/v1/models", headers=headers).status_code == 200, 5)
        first, second = topology.instances
        revoked = http.delete(
            f"{first}/v1/admin/tokens/{token['id']}",
            headers={"Authorization": f"Bearer {topology.admin_key}"},
        )
        assert revoked.status_code in (200, 204)
        _until(lambda: http.get(second + "/v1/models", headers=headers).status_code == 401, 2)
        statuses = {
            http.get(topology.lb + "/v1/models", headers=headers).status_code for _ in range(6)
        }
        assert statuses == {401}


def test_a_burst_through_the_balancer_never_overspends_balance_or_key_quota(
    topology: Topology, admin: Admin, model: str
) -> None:
    user = admin.create_user(balance=0.01)
    key = admin.create_token(user["id"], quota=0.005)["key"]
    client = openai.OpenAI(base_url=topology.lb + "/v1", api_key=key, max_retries=0, timeout=30)
    _until(lambda: _answers(client, model), 5)

    def call(_: int) -> int:
        try:
            client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=20)  # type: ignore[arg-type]
            return 200
        except openai.APIStatusError as exc:
            return exc.status_code

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(call, range(200)))
    ok = statuses.count(200) + 1  # and the call that found the key ready
    assert set(statuses) <= {200, 402, 403} and len(set(statuses)) > 1
    state = wait_for_rows(topology.database_url, user["id"], ok)
    assert state.usage_rows == ok
    assert state.balance >= 0 and state.held >= 0
    assert state.usage_cost <= usd_to_units(0.01)  # the balance
    # The key's quota: the instances' parts of it never add up to more (store.quota_holds).
    assert state.usage_cost <= usd_to_units(0.005)


def test_a_key_allow_list_sees_each_client_through_the_balancer(
    topology: Topology, admin: Admin
) -> None:
    """nginx names the client in X-Forwarded-For and the instances trust it (127.0.0.1):
    a client from 127.0.0.2 is that client to its key's allow-list, whatever it writes in
    the header itself; asked directly, an instance ignores the header."""
    user = admin.create_user(balance=1)["id"]
    mine = admin.create_token(user, ip_allowlist=["127.0.0.2/32"])["key"]
    other = admin.create_token(user, ip_allowlist=["127.0.0.3/32"])["key"]
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=10) as http:

        def status(url: str, key: str, claimed: str | None = None) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            if claimed is not None:
                headers["X-Forwarded-For"] = claimed
            return http.get(url + "/v1/models", headers=headers).status_code

        _until(lambda: status(topology.lb, mine) == 200, 5)
        assert status(topology.lb, other) == 403
        assert status(topology.lb, other, claimed="127.0.0.3") == 403
        for url in topology.instances:
            assert status(url, mine) == 200
            assert status(url, other, claimed="127.0.0.3") == 403
