"""A console client for tests: a browser's cookie jar and CSRF header, over plain httpx."""

from __future__ import annotations

import uuid
from email.message import Message
from typing import Any

import httpx

PASSWORD = "correct horse battery"
# The public URL of the gateways that send mail: links are built on it.
PUBLIC_URL = "https://relay.example.com"


def new_email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


class Console:
    """One browser: its cookies, and the CSRF token the last sign-in or ``/me`` gave."""

    def __init__(self, base_url: str, local_address: str | None = None) -> None:
        # ``local_address``: another loopback address (127.0.0.2, ...) to come from, as a
        # browser on another machine would.
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        self.http = httpx.Client(base_url=base_url, timeout=30, transport=transport)
        self.csrf = ""

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf, **kwargs.pop("headers", {})}
        return self.http.request(
            method, f"/console/api{path}", json=body, headers=headers, **kwargs
        )

    def _signed_in(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 300 and "csrf_token" in response.json():
            self.csrf = response.json()["csrf_token"]  # (none: a sign-up still to verify)
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


def mail_text(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def link_token(message: Message, kind: str) -> str:
    """The token of the ``/console/#<kind>=...`` link in a mail from the gateway."""
    line = next(line for line in mail_text(message).splitlines() if line.startswith(PUBLIC_URL))
    assert line.startswith(f"{PUBLIC_URL}/console/#{kind}="), line
    return line.split(f"#{kind}=", 1)[1]
