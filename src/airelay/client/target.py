"""Where a request goes and its head, encoded once and reused for every call.

A ``Target`` holds the origin to connect to and the request head up to the
``Content-Length`` value, so a call only appends the body's length and the body. A request
with fields of its own (a signature) is the cached target ``with_fields`` them: a copy of
the head with those lines added, made per call. A target also keeps its URL and fields as
given, for a transport that writes its own head (``airelay.transport.proxied``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import yarl

from airelay import __version__

DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = f"airelay/{__version__}"
# RFC 9110 token characters for field names; values may not hold CR, LF or NUL.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
# Fields the client writes itself.
_OWN_FIELDS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_LENGTH = b"Content-Length: "
_END = b"\r\n"
# Methods whose requests carry no body: their head is complete, without Content-Length.
_BODYLESS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Target:
    origin: tuple[str, str, int]  # (scheme, host, port): the key of the connection pool
    host: str
    port: int
    tls: bool
    # Request line and fields: ending with "Content-Length: " when ``sized``, else whole.
    head: bytes
    sized: bool
    method: str
    url: yarl.URL  # encoded: its path and query go out as they are
    fields: tuple[tuple[str, str], ...]  # the fields as sent, besides Host and framing

    def with_fields(self, fields: Mapping[str, str]) -> Target:
        """This target with more header fields (a per-call signature); raises ``ValueError``
        for a field that cannot go on the wire."""
        pairs = _checked(fields)
        if not pairs:
            return self
        extra = "".join(f"{name}: {value}\r\n" for name, value in pairs).encode("latin-1")
        cut = len(_LENGTH) if self.sized else len(_END)
        head = self.head[:-cut] + extra + self.head[-cut:]
        return Target(
            self.origin,
            self.host,
            self.port,
            self.tls,
            head,
            self.sized,
            self.method,
            self.url,
            (*self.fields, *pairs),
        )


def post_target(url: str, headers: Mapping[str, str], *, encoded: bool = False) -> Target:
    """A POST to ``url`` with ``headers``; raises ``ValueError`` for a URL or a field that
    cannot go on the wire as it is.

    ``encoded``: the URL is already percent-encoded and its path and query go out byte for
    byte (without it they are normalised, ``%3A`` decoded to ``:`` for one): a signed
    request must carry the path that was signed."""
    return request_target("POST", url, headers, encoded=encoded)


def request_target(
    method: str, url: str, headers: Mapping[str, str] | None = None, *, encoded: bool = False
) -> Target:
    """A ``method`` request to ``url`` (a GET has no body, a POST one of any length)."""
    parsed = yarl.URL(url, encoded=encoded)
    scheme = parsed.scheme
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"unsupported URL scheme {scheme!r}")
    host = (parsed.raw_host or "").lower()
    if not host:
        raise ValueError("the URL has no host")
    port = parsed.port or DEFAULT_PORTS[scheme]
    path = parsed.raw_path_qs or "/"
    if any(c in path for c in " \r\n\x00") or (encoded and not path.isascii()):
        raise ValueError("the URL path holds characters that cannot be sent")
    authority = f"[{host}]" if ":" in host else host
    if port != DEFAULT_PORTS[scheme]:
        authority = f"{authority}:{port}"
    fields = [("User-Agent", USER_AGENT), ("Accept-Encoding", "identity")]
    fields += _checked(headers or {})
    sized = method not in _BODYLESS
    lines = [f"{method} {path} HTTP/1.1", f"Host: {authority}"]
    lines += [f"{name}: {value}" for name, value in fields]
    lines.append("Content-Length: " if sized else "\r\n")
    head = "\r\n".join(lines).encode("latin-1", "strict")
    return Target(
        (scheme, host, port),
        host,
        port,
        scheme == "https",
        head,
        sized,
        method,
        yarl.URL(str(parsed.with_fragment(None)), encoded=True),
        tuple(fields),
    )


def _checked(fields: Mapping[str, str]) -> list[tuple[str, str]]:
    """The fields that go on the wire (not the ones the client writes itself)."""
    pairs = []
    for name, value in fields.items():
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise ValueError(f"the value of header {name} holds a line break or NUL")
        if name.lower() in _OWN_FIELDS:
            continue
        pairs.append((name, value))
    return pairs
