"""Hostile client bytes: NUL in URLs, bodies too deep or not UTF-8, oversized or malformed
HTTP messages. Each gets a 4xx in the route's error shape, never a 500, and at most one log
line without a traceback (a log line per bad request must not become a flooding lever)."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from support.admin import Admin
from support.gateway import Gateway
from surfaces.admin_kit import expect_error

DEEP = 100_000


@pytest.fixture(scope="module")
def user_key(admin: Admin) -> str:
    return str(admin.create_token()["key"])


def _quiet(caplog: pytest.LogCaptureFixture, most: int = 0) -> None:
    """No traceback and at most ``most`` log lines at warning or above."""
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(r.exc_info is None for r in loud), [r.getMessage() for r in loud]
    assert len(loud) <= most, [r.getMessage() for r in loud]


NUL_ADMIN_URLS = [
    ("GET", "/v1/admin/users/%00"),
    ("PATCH", "/v1/admin/users/usr%00x"),
    ("DELETE", "/v1/admin/users/%00"),
    ("GET", "/v1/admin/users?status=%00"),
    ("GET", "/v1/admin/tokens?user_id=%00"),
    ("GET", "/v1/admin/tokens/%00"),
    ("GET", "/v1/admin/channels/%00"),
    ("POST", "/v1/admin/channels/%00/test"),
    ("GET", "/v1/admin/models/a%00b"),
    ("DELETE", "/admin/models/a/%00"),
    ("GET", "/v1/admin/usage?model=%00"),
    ("GET", "/v1/admin/usage?user_id=x%00"),
    ("GET", "/v1/admin/usage/summary?model=%00"),
]


@pytest.mark.parametrize(("method", "url"), NUL_ADMIN_URLS, ids=lambda v: str(v))
def test_nul_in_admin_url_is_a_400(
    gateway: Gateway, method: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = httpx.request(
        method,
        gateway.url + url,
        headers={"Authorization": f"Bearer {gateway.admin_key}"},
        content=b"{}" if method in ("POST", "PATCH") else None,
        timeout=30,
    )
    assert "NUL" in expect_error(response, 400)
    _quiet(caplog)


@pytest.mark.parametrize("url", ["/v1/usage?model=%00", "/v1/usage?token_id=%00", "/v1/models/%00"])
def test_nul_in_client_url_is_a_400(
    gateway: Gateway, user_key: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = httpx.get(
        gateway.url + url, headers={"Authorization": f"Bearer {user_key}"}, timeout=30
    )
    expect_error(response, 400)
    _quiet(caplog)


ADMIN_BODIES = [
    ("POST", "/v1/admin/users"),
    ("PATCH", "/v1/admin/users/usr_nope"),
    ("POST", "/v1/admin/tokens"),
    ("PATCH", "/v1/admin/tokens/tok_nope"),
    ("POST", "/v1/admin/channels"),
    ("PATCH", "/v1/admin/channels/ch_nope"),
    ("POST", "/v1/admin/models"),
    ("PATCH", "/v1/admin/models/nope"),
    ("POST", "/v1/admin/topup"),
    ("PATCH", "/v1/admin/settings"),
]
DEEP_VALUE = b'{"x": ' + b"[" * DEEP + b"]" * DEEP + b"}"
NOT_UTF8 = b'{"name": "\xff\xfe"}'
DEEP_OBJECT = b'{"pricing": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}"


@pytest.mark.parametrize(
    "body",
    [DEEP_VALUE, DEEP_OBJECT, NOT_UTF8, b'{"name": "\\ud800"}'],
    ids=["deep-array", "deep-object", "not-utf8", "lone-surrogate"],
)
@pytest.mark.parametrize(("method", "url"), ADMIN_BODIES, ids=lambda v: str(v))
def test_hostile_admin_body_is_a_400(
    gateway: Gateway, method: str, url: str, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    response = httpx.request(
        method,
        gateway.url + url,
        headers={"Authorization": f"Bearer {gateway.admin_key}"},
        content=body,
        timeout=30,
    )
    expected = 400
    if body == NOT_UTF8 and response.status_code == 404:
        expected = 404  # a field the route ignores is skipped unread; the id check answers
    expect_error(response, expected)
    _quiet(caplog)


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is and read the answer (the server closes after an error)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        for _ in range(1000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return status, headers, body


SECRET = "sk-secret-in-a-bad-header"
PROTOCOL_CASES = {
    "header-too-large": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: "
        + SECRET.encode()
        + b"a" * 20_000
        + b"\r\n\r\n",
        431,
    ),
    "url-too-long": (b"GET /v1/models?" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    "too-many-headers": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: a\r\n" % i for i in range(300))
        + b"\r\n",
        431,
    ),
    "nul-in-header": (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + SECRET.encode()
        + b"\x00\r\n\r\n",
        400,
    ),
    "bad-chunk-size": (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    "bad-request-line": (b"GET\x01 / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
}


@pytest.mark.parametrize("case", list(PROTOCOL_CASES))
def test_malformed_http_answers_json_and_logs_one_line(
    gateway: Gateway, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    request, expected = PROTOCOL_CASES[case]
    status, headers, body = _raw(gateway.port, request)
    assert status == expected, body
    assert headers["content-type"].startswith("application/json"), headers
    assert headers.get("x-request-id"), headers
    error = httpx.Response(status, content=body).json()["error"]
    assert error["code"] == expected and error["message"] and error["type"]
    assert SECRET not in body.decode("latin-1")
    _quiet(caplog, most=1)
    assert SECRET not in caplog.text
    # The gateway still serves the next caller.
    assert httpx.get(gateway.url + "/v1/models", timeout=10).status_code == 401


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/v1/x%0Ay", 404),
        ("GET", "/v1/models/a%0A", 401),
        ("POST", "/v1beta/models/a%0Ab:generateContent", 401),
        ("GET", "/v1/admin/users/a%0Db", 401),
    ],
)
def test_line_break_in_path_is_answered_by_the_gateway(
    gateway: Gateway, method: str, url: str, status: int
) -> None:
    """A decoded line break escaped the routes' patterns and got aiohttp's plain-text 404."""
    response = httpx.request(method, gateway.url + url, timeout=10)
    assert response.status_code in (status, 404), response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert response.headers.get("x-request-id")


def test_openai_route_with_a_colon_answers_in_openai_shape(gateway: Gateway, user_key: str) -> None:
    """``GET /v1/models/a:b`` is OpenAI's retrieve-model; only POSTs there are Gemini's."""
    response = httpx.get(
        gateway.url + "/v1/models/a:b", headers={"Authorization": f"Bearer {user_key}"}
    )
    assert expect_error(response, 404)


@pytest.mark.parametrize(
    "body",
    [b'{"system_name": "a\\u0000b"}', b'{"system_name": "' + b"x" * 10_000 + b'"}'],
    ids=["nul", "too-long"],
)
def test_settings_refuse_a_nul_or_an_endless_name(gateway: Gateway, body: bytes) -> None:
    response = httpx.patch(
        gateway.url + "/v1/admin/settings",
        headers={"Authorization": f"Bearer {gateway.admin_key}"},
        content=body,
        timeout=10,
    )
    expect_error(response, 400)
