"""Request heads: encoded once, safe on the wire."""

from __future__ import annotations

import pytest

from airelay.client import post_target


def test_head_carries_host_path_and_fields() -> None:
    target = post_target(
        "https://api.example.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"x-goog-api-key": "k", "Content-Type": "application/json"},
    )
    assert target.origin == ("https", "api.example.com", 443)
    assert target.tls
    assert target.head == (
        b"POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1\r\n"
        b"Host: api.example.com\r\n"
        b"User-Agent: airelay/0.1.0\r\n"
        b"Accept-Encoding: identity\r\n"
        b"x-goog-api-key: k\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: "
    )


def test_port_ipv6_and_escaping() -> None:
    target = post_target("http://[::1]:8080/v1/chat completions", {})
    assert target.origin == ("http", "::1", 8080)
    assert not target.tls
    assert target.head.startswith(b"POST /v1/chat%20completions HTTP/1.1\r\nHost: [::1]:8080\r\n")


def test_fields_the_client_owns_are_not_repeated() -> None:
    target = post_target("http://h/x", {"Content-Length": "5", "Host": "evil", "Connection": "x"})
    assert target.head.count(b"Host:") == 1
    assert b"evil" not in target.head
    assert target.head.count(b"Content-Length") == 1


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("ftp://h/x", {}),
        ("http:///x", {}),
        ("http://h/x", {"Authorization": "Bearer k\r\nX-Injected: 1"}),
        ("http://h/x", {"Bad Name": "v"}),
        ("http://h/x", {"x-key": "k\x00"}),
        ("http://h/x", {"x-key": "clé ✓"}),
    ],
)
def test_what_cannot_go_on_the_wire_is_refused(url: str, headers: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        post_target(url, headers)


def test_an_encoded_url_goes_out_byte_for_byte() -> None:
    url = "https://Bedrock-Runtime.us-east-1.amazonaws.com/model/anthropic.claude-v1%3A0/invoke"
    assert post_target(url, {}).head.startswith(b"POST /model/anthropic.claude-v1:0/invoke ")
    target = post_target(url, {}, encoded=True)
    assert target.head.startswith(
        b"POST /model/anthropic.claude-v1%3A0/invoke HTTP/1.1\r\n"
        b"Host: bedrock-runtime.us-east-1.amazonaws.com\r\n"
    )
    assert target.origin == ("https", "bedrock-runtime.us-east-1.amazonaws.com", 443)
    with pytest.raises(ValueError):
        post_target("https://h/model/clé", {}, encoded=True)


def test_per_call_fields_join_the_cached_head() -> None:
    cached = post_target("http://h/x", {"Content-Type": "application/json"})
    signed = cached.with_fields({"X-Amz-Date": "20250101T000000Z", "Authorization": "AWS4 s"})
    assert signed.head == (
        b"POST /x HTTP/1.1\r\nHost: h\r\nUser-Agent: airelay/0.1.0\r\n"
        b"Accept-Encoding: identity\r\nContent-Type: application/json\r\n"
        b"X-Amz-Date: 20250101T000000Z\r\nAuthorization: AWS4 s\r\nContent-Length: "
    )
    assert (signed.origin, signed.host, signed.port, signed.tls) == (
        cached.origin,
        cached.host,
        cached.port,
        cached.tls,
    )
    assert cached.with_fields({}) is cached
    assert b"Authorization" not in cached.head  # the cached head is left as it was
    for bad in ({"Authorization": "a\r\nX-Injected: 1"}, {"Bad Name": "v"}):
        with pytest.raises(ValueError):
            cached.with_fields(bad)
