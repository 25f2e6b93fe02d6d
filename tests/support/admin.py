"""A small management-API client for tests (plain httpx, as an operator's script would)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


class Admin:
    def __init__(self, base_url: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def _ok(self, response: httpx.Response) -> Any:
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def create_user(self, **fields: Any) -> dict[str, Any]:
        """A user with an email of its own and, unless told otherwise, $10 to spend."""
        fields.setdefault("email", f"{uuid.uuid4().hex[:10]}@example.com")
        fields.setdefault("balance", 10)
        return self._ok(self.http.post("/v1/admin/users", json=fields))  # type: ignore[no-any-return]

    def create_token(self, user_id: str | None = None, **fields: Any) -> dict[str, Any]:
        if user_id is None:
            user_id = self.create_user()["id"]
        fields["user_id"] = user_id
        return self._ok(self.http.post("/v1/admin/tokens", json=fields))  # type: ignore[no-any-return]

    def create_channel(
        self, *, price: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A channel; its models get ``price`` (default $1 / $2 per 1M tokens) in the
        catalog unless they are priced already (an unpriced model cannot be called)."""
        fields.setdefault("name", "ch-" + uuid.uuid4().hex[:6])
        channel: dict[str, Any] = self._ok(self.http.post("/v1/admin/channels", json=fields))
        for model in channel["models"]:
            self.price(model, price if price is not None else {"input": 1, "output": 2})
        return channel

    def price(self, model: str, pricing: dict[str, Any], **fields: Any) -> None:
        """Put ``model`` in the catalog with ``pricing`` unless it is there already."""
        response = self.http.post(
            "/v1/admin/models", json={"id": model, "pricing": pricing, **fields}
        )
        assert response.status_code in (201, 409), response.text

    def patch_channel(self, channel_id: str, **fields: Any) -> dict[str, Any]:
        return self._ok(self.http.patch(f"/v1/admin/channels/{channel_id}", json=fields))  # type: ignore[no-any-return]

    def close(self) -> None:
        self.http.close()


def unique_model(stem: str = "model") -> str:
    """A model name no other test uses, so that tests sharing a gateway do not interfere."""
    return f"{stem}-{uuid.uuid4().hex[:8]}"
