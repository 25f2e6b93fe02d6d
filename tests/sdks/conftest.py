"""Fixtures of the third-party SDK tests: a gateway (SQLite) with two channels on fake
OpenAI upstreams, one that serves only chat completions (the gateway translates the
Responses API) and one that serves only the Responses API (bytes passed through)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin, unique_model
from support.databases import sqlite_url
from support.gateway import Gateway

#: channel kind -> what it serves
KINDS = {"chat": ["chat"], "responses": ["responses"]}


@dataclass
class SdkSetup:
    gateway: Gateway
    admin: Admin
    fakes: dict[str, FakeOpenAI]
    models: dict[str, str]  # channel kind -> public model
    key: str
    user_id: str

    @property
    def base_url(self) -> str:
        return self.gateway.url + "/v1"

    def paths(self, kind: str, start: int) -> set[str]:
        """The upstream paths the channel of ``kind`` was called on since ``start``."""
        return {r.path for r in self.fakes[kind].requests[start:]}

    def billed_rows(self, model: str, at_least: int = 0) -> list[dict[str, Any]]:
        """The usage rows of ``model``, once there are ``at_least`` (rows are written in
        batches), or as they are after 10 s."""
        deadline = time.monotonic() + 10
        while True:
            listed = self.admin.http.get(
                "/v1/admin/usage", params={"user_id": self.user_id, "model": model, "limit": 200}
            ).json()
            rows = list(listed["usage"])
            if len(rows) >= at_least or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


@pytest.fixture(scope="module")
def sdk_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkSetup]:
    root = tmp_path_factory.mktemp("sdks")
    with (
        FakeOpenAI(name="chat") as chat,
        FakeOpenAI(name="responses") as native,
        Gateway(sqlite_url(root), root / "data") as gateway,
    ):
        admin = Admin(gateway.url, gateway.admin_key)
        fakes = {"chat": chat, "responses": native}
        models = {}
        for kind, endpoints in KINDS.items():
            models[kind] = unique_model(f"sdk-{kind}")
            admin.create_channel(
                type="openai",
                base_url=fakes[kind].base_url,
                api_keys=["sk-upstream-test"],
                models=[models[kind]],
                endpoints=endpoints,
            )
        user = admin.create_user(balance=10)
        key = admin.create_token(user["id"], name="sdks")["key"]
        try:
            yield SdkSetup(gateway, admin, fakes, models, key, user["id"])
        finally:
            admin.close()
