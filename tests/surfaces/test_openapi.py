"""``GET /openapi.json``: served without a key, a valid OpenAPI 3.1 document, and every route
the gateway registers is in it (a route added without a description fails here)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from support.gateway import Gateway

from airelay.routes import add_routes, documented_routes
from airelay.surfaces.endpoint import CATCH_ALL
from airelay.surfaces.openapi import build

SAMPLES = {"model": "some-model", "id": "some-id", "path": "some-page"}


def _document(gateway: Gateway, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = httpx.get(gateway.url + "/openapi.json", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    document: dict[str, Any] = response.json()
    return document


def test_openapi_json_needs_no_key(gateway: Gateway) -> None:
    anonymous = _document(gateway)
    assert anonymous["openapi"].startswith("3.1")
    # A wrong key changes nothing: the document is public.
    assert _document(gateway, {"Authorization": "Bearer sk-not-a-key"}) == anonymous


def test_document_loads_and_every_operation_is_valid(gateway: Gateway) -> None:
    schema = schemathesis.openapi.from_dict(_document(gateway))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= len(documented_routes())
    methods_with_bodies = {op.method.upper() for op in operations if op.body}
    assert {"POST", "PATCH"} <= methods_with_bodies


def _resolved(app: web.Application, method: str, path: str) -> tuple[str, str]:
    """The registered route (method, canonical path) that a concrete request reaches."""
    request = make_mocked_request(method, path, app=app)
    match = asyncio.run(app.router.resolve(request))
    route = match.route
    assert route.resource is not None
    return route.method, route.resource.canonical


def test_every_registered_route_is_documented() -> None:
    app = web.Application()
    add_routes(app.router)
    document = build(documented_routes())
    reached: set[tuple[str, str]] = set()
    for template, operations in document["paths"].items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: SAMPLES[m[1]], template)
        for method in operations:
            reached.add(_resolved(app, method.upper(), concrete))
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical != CATCH_ALL
    }
    missing = [
        (method, path)
        for method, path in sorted(registered)
        # A bare path is the /v1 route without its prefix: documented once, with it.
        if (method, path) not in reached and (method, "/v1" + path) not in reached
    ]
    assert not missing, f"routes missing from /openapi.json: {missing}"
    assert ("GET", CATCH_ALL) not in reached  # every documented path reaches a real route


def test_a_route_without_a_description_fails_the_build() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response()

    with pytest.raises(KeyError):
        build([*documented_routes(), ("GET", "/v1/undocumented", handler)])
