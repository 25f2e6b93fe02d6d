"""Fixtures of the management-API tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fakes.openai_upstream import FakeOpenAI
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import Route, make_route


@pytest.fixture(scope="module")
def anon(gateway: Gateway) -> Iterator[httpx.Client]:
    """A client of the gateway that sends no key unless told to."""
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


@pytest.fixture
def route(admin: Admin, upstream: FakeOpenAI) -> Route:
    return make_route(admin, upstream)
