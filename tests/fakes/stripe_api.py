"""A fake Stripe API (Checkout Sessions), served over real HTTP on loopback, and webhook
events signed exactly as Stripe signs them.

Speaks the wire format of the official library: form-encoded bodies with bracket notation
(``line_items[0][price_data][unit_amount]=1234``), Bearer secret-key auth, Stripe-shaped
JSON objects and errors.  Requests are recorded; errors can be scripted, FIFO.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .loopback import ThreadedApp

API_VERSION = "2026-10-28.endive"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case keys
    form: dict[str, Any]  # the bracket-notation body, nested back into dicts and lists
    raw: bytes


@dataclass(frozen=True)
class ScriptedError:
    status: int
    message: str
    type_: str = "invalid_request_error"


class FakeStripe(ThreadedApp):
    """``with FakeStripe() as fake:`` then point the library at ``fake.base_url``."""

    label = "FakeStripe"
    handler_cancellation = False

    def __init__(self, api_key: str = "sk_test_fake_4eC39HqLyjWDarjtT1zdp7dc") -> None:
        super().__init__()
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self._errors: deque[ScriptedError] = deque()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What ``base_addresses={"api": ...}`` takes: the root, without ``/v1``."""
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, message: str, type_: str = "invalid_request_error") -> None:
        with self._lock:
            self._errors.append(ScriptedError(status, message, type_))

    def reset(self) -> None:
        with self._lock:
            self._errors.clear()
            self.requests.clear()

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self._retrieve_session)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # -- the API (runs on the server loop)

    async def _record(self, request: web.Request) -> tuple[dict[str, Any], ScriptedError | None]:
        raw = await request.read()
        form = nest(parse_qsl(raw.decode(), keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            self.requests.append(RecordedRequest(request.method, request.path, headers, form, raw))
            return form, self._errors.popleft() if self._errors else None

    def _auth_error(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else ""
        if not key:
            return _error(401, "You did not provide an API key.")
        if key != self.api_key:
            masked = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:]
            return _error(401, f"Invalid API Key provided: {masked}")
        return None

    async def _create_session(self, request: web.Request) -> web.Response:
        form, scripted = await self._record(request)
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        if scripted is not None:
            return _error(scripted.status, scripted.message, scripted.type_)
        if form.get("mode") not in ("payment", "setup", "subscription"):
            return _error(400, "Missing required param: mode.", param="mode")
        items = form.get("line_items")
        if not isinstance(items, list) or not items:
            return _error(400, "Missing required param: line_items.", param="line_items")
        total = 0
        currencies = set()
        for index, item in enumerate(items):
            price = item.get("price_data") if isinstance(item, dict) else None
            param = f"line_items[{index}][price_data]"
            if not isinstance(price, dict) or not str(price.get("unit_amount", "")).isdigit():
                return _error(400, f"Missing required param: {param}[unit_amount].", param=param)
            if not isinstance(price.get("product_data"), dict) or not price["product_data"].get(
                "name"
            ):
                msg = f"Missing required param: {param}[product_data][name]."
                return _error(400, msg, param=param)
            currencies.add(price.get("currency"))
            total += int(price["unit_amount"]) * int(item.get("quantity", "1"))
        session = self._session(form, total, currencies.pop() if len(currencies) == 1 else None)
        with self._lock:
            self.sessions[session["id"]] = session
        return _json(session)

    def _session(self, form: dict[str, Any], total: int, currency: str | None) -> dict[str, Any]:
        session_id = "cs_test_a1" + secrets.token_hex(28)
        created = int(time.time())
        return {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": form.get("cancel_url"),
            "client_reference_id": form.get("client_reference_id"),
            "created": created,
            "currency": currency,
            "customer": None,
            "customer_email": None,
            "expires_at": created + 24 * 3600,
            "livemode": False,
            "metadata": form.get("metadata") or {},
            "mode": form.get("mode"),
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": form.get("success_url"),
            "ui_mode": "hosted",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
        }

    async def _retrieve_session(self, request: web.Request) -> web.Response:
        await self._record(request)
        denied = self._auth_error(request)
        if denied is not None:
            return denied
        with self._lock:
            session = self.sessions.get(request.match_info["id"])
        if session is None:
            msg = f"No such checkout.session: '{request.match_info['id']}'"
            return _error(404, msg, code="resource_missing")
        return _json(session)

    async def _not_found(self, request: web.Request) -> web.Response:
        await self._record(request)
        return _error(404, f"Unrecognized request URL ({request.method}: {request.path}).")

    # -- webhook events (called from the test thread)

    def paid_event(
        self, session_id: str, type_: str = "checkout.session.completed", **changes: Any
    ) -> dict[str, Any]:
        """The event Stripe sends when the session is paid; ``changes`` alter the session."""
        with self._lock:
            session = dict(self.sessions[session_id])
        session.update(status="complete", payment_status="paid", payment_intent="pi_3Test")
        session.update(changes)
        return event(type_, session)


def event(type_: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_1" + secrets.token_hex(12),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` as Stripe computes it: HMAC-SHA256 of ``"{t}.{payload}"``."""
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Undo Stripe's form encoding: ``a[0][b]=1`` → ``{"a": [{"b": "1"}]}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)  # type: ignore[no-any-return]


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    headers = {"Request-Id": "req_" + secrets.token_hex(7), "Stripe-Version": API_VERSION}
    return web.Response(
        text=json.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": type_}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
    return _json({"error": error}, status)
