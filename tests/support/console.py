"""A console client for tests: a browser's cookie jar and CSRF header, over plain httpx."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PASSWORD = "correct horse battery"


def new_email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


class Console:
    """One browser: its cookies, and the CSRF token the last sign-in or ``/me`` gave."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.csrf = ""

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.http.request(
            method, f"/console/api{path}", json=body, headers=headers, **kwargs
        )

    def _signed_in(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 300:
            self.csrf = response.json()["csrf_token"]
        return response

    def sign_up(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self._signed_in(self.call("POST", "/signup", {"email": email, "password": password}))

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self._signed_in(self.call("POST", "/login", {"email": email, "password": password}))

    def second_factor(self, code: str) -> httpx.Response:
        return self._signed_in(self.call("POST", "/login/totp", {"code": code}))

    def operator(self, key: str) -> httpx.Response:
        return self._signed_in(self.call("POST", "/login/admin", {"key": key}))

    def close(self) -> None:
        self.http.close()


def open_registration(admin_http: httpx.Client, enabled: bool = True) -> None:
    response = admin_http.patch(
        "/v1/admin/settings", json={"features": {"registration_enabled": enabled}}
    )
    assert response.status_code == 200, response.text
