"""Fuzzing every public and management route from the gateway's own ``/openapi.json``.

For each operation, schemathesis generates requests that fit the document and requests that
do not, with the management key on management routes and a user key on client routes. A fake
upstream serves the model the client calls are steered to, so they succeed or fail cleanly.
Checks: never a 5xx (a client route may answer 502/503/504 for an upstream it cannot reach,
billing 501 where Stripe is not configured, as documented), never a traceback or an error
log line, every error in the route's error shape with an ``x-request-id``, and the books
exact: only successful calls are charged, one usage row each.

``AIRELAY_FUZZ_EXAMPLES`` sets the examples per operation and mode (default 5; e.g. 200 for a
long run). A finding prints the request that caused it and hypothesis's seed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from fakes.openai_upstream import FakeOpenAI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from support.admin import Admin, unique_model
from support.gateway import Gateway
from support.ledger import books, wait_for_rows

from airelay.surfaces.admin.settings import DEFAULTS

EXAMPLES = int(os.environ.get("AIRELAY_FUZZ_EXAMPLES", "5"))
CHARGING = (
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/responses/compact",
    "/v1/embeddings",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/rerank",
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
    "/v1/audio/translations",
    "/v1/messages",
    ":generateContent",
    ":streamGenerateContent",
)
UPSTREAM_STATUSES = {502, 503, 504}
# Stripe unset, mail unset: 501
NOT_CONFIGURED = {
    "/v1/billing/checkout",
    "/v1/billing/webhook",
    "/console/api/password-reset",
    "/console/api/verify-email/resend",
}


@dataclass
class Targets:
    """What the fuzzer calls with: keys, a model the fake upstream serves, and throwaway
    records whose ids it may use in paths (so that not every id is unknown)."""

    model: str
    key: str
    user_id: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def targets(admin: Admin, upstream: FakeOpenAI) -> Targets:
    model = unique_model("fuzz")
    admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[model],
        endpoints=["chat", "embeddings", "images"],
    )
    user = admin.create_user(balance=10)
    token = admin.create_token(user["id"], rpm=10**6, tpm=10**9)
    spare_model = unique_model("spare")
    spare_channel = admin.create_channel(
        type="openai",
        base_url=upstream.base_url,
        api_keys=["sk-upstream-test"],
        models=[spare_model],
    )
    spare_user = admin.create_user(balance=1)
    spare_token = admin.create_token(spare_user["id"])
    return Targets(
        model=model,
        key=token["key"],
        user_id=user["id"],
        ids={
            "/admin/users/": spare_user["id"],
            "/admin/tokens/": spare_token["id"],
            "/admin/channels/": spare_channel["id"],
            "/admin/models/": spare_model,
        },
    )


def _gemini(path: str) -> bool:
    return path.startswith("/v1beta/") or "}:" in path


def _error_shape(path: str, status: int, body: Any) -> None:
    try:
        _check_error_shape(path, status, body)
    except (KeyError, TypeError) as exc:
        raise AssertionError(f"not the route's error shape: {body!r}") from exc


def _check_error_shape(path: str, status: int, body: Any) -> None:
    if _gemini(path):
        assert body["error"]["code"] == status and body["error"]["message"], body
    elif path.startswith("/v1/messages"):
        assert body["type"] == "error" and body["error"]["message"], body
    else:
        assert set(body) == {"error"}, body
        assert body["error"]["message"] and body["error"]["type"], body


def _steer(case: Any, targets: Targets) -> None:
    """Point part of the generated cases at things that exist: the served model, the
    throwaway records. The rest keeps its random values."""
    path = case.operation.path
    params = case.path_parameters or {}
    if "model" in params:
        params["model"] = targets.model
    for stem, record_id in targets.ids.items():
        if stem in path and "id" in params:
            params["id"] = record_id
    if isinstance(case.body, dict):
        if "model" in case.body:
            case.body["model"] = targets.model
        if "user_id" in case.body:
            case.body["user_id"] = targets.ids["/admin/users/"]


class Fuzz:
    def __init__(self, gateway: Gateway, targets: Targets, caplog: pytest.LogCaptureFixture):
        self.gateway = gateway
        self.targets = targets
        self.caplog = caplog
        self.charged = 0  # successful calls that must each leave one usage row
        self.calls = 0

    def headers(self, path: str) -> dict[str, str]:
        key = self.gateway.admin_key if path.startswith("/v1/admin/") else self.targets.key
        return {"Authorization": f"Bearer {key}"}

    def check(self, case: Any, steer: bool) -> None:
        if steer:
            _steer(case, self.targets)
        path = case.operation.path
        seen = len(self.caplog.records)
        response = case.call(base_url=self.gateway.url, headers=self.headers(path), timeout=60)
        self.calls += 1
        status = response.status_code
        sent = response.request
        where = f"{sent.method} {sent.url} -> {status}: {response.content[:300]!r}"
        allowed = set()
        if not path.startswith(("/v1/admin/", "/openapi.json")):
            allowed |= UPSTREAM_STATUSES
        if path in NOT_CONFIGURED:
            allowed.add(501)
        assert status < 500 or status in allowed, where
        assert response.headers.get("x-request-id"), where
        if status >= 400:
            assert response.headers["content-type"][0].startswith("application/json"), where
            _error_shape(path, status, httpx.Response(status, content=response.content).json())
        elif path.endswith(CHARGING):
            self.charged += 1
        loud = [
            r
            for r in self.caplog.records[seen:]
            if r.levelno >= logging.ERROR or r.exc_info is not None
        ]
        assert not loud, (where, [r.getMessage() for r in loud])


def _operations() -> Iterator[Any]:
    """Client operations first, management after, settings last: a fuzzed setting (say
    maintenance mode) must not hide the routes after it."""
    from airelay.routes import documented_routes
    from airelay.surfaces.openapi import build

    schema = schemathesis.openapi.from_dict(build(documented_routes()))
    operations = [result.ok() for result in schema.get_all_operations()]
    yield from sorted(
        operations,
        key=lambda op: (op.path.startswith("/v1/admin/"), op.path == "/v1/admin/settings"),
    )


def _run(fuzz: Fuzz, operation: Any, mode: GenerationMode) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode), steer=st.booleans())
    def fuzz_one(case: Any, steer: bool) -> None:
        fuzz.check(case, steer)

    fuzz_one()


@pytest.mark.timeout(max(300, EXAMPLES * 60))
def test_fuzz_every_operation(
    gateway: Gateway, admin: Admin, targets: Targets, caplog: pytest.LogCaptureFixture
) -> None:
    url = gateway.settings.database_url
    before = books(url, targets.user_id)
    fuzz = Fuzz(gateway, targets, caplog)
    failures: list[str] = []
    try:
        for operation in _operations():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _run(fuzz, operation, mode)
                except AssertionError as exc:
                    failures.append(f"{operation.label} [{mode.value}]: {exc}")
                except Unsatisfiable:
                    # Nothing in this operation can be made invalid (no body, no parameter).
                    assert mode is GenerationMode.NEGATIVE, operation.label
    finally:
        admin.http.patch("/v1/admin/settings", json=DEFAULTS)
    assert not failures, "\n".join(failures)
    assert fuzz.calls > 0
    after = wait_for_rows(url, targets.user_id, before.usage_rows + fuzz.charged)
    assert after.usage_rows == before.usage_rows + fuzz.charged  # failed calls charge nothing
    assert after.credits == before.credits
    assert after.balance >= 0 and after.held >= 0
    assert after.credits - after.usage_cost == after.spendable
