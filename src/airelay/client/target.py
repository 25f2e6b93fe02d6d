"""Where a request goes and its head, encoded once and reused for every call.

A ``Target`` holds the origin to connect to and the request head up to the
``Content-Length`` value, so a call only appends the body's length and the body. A request
with fields of its own (a signature) is the cached target ``with_fields`` them: a copy of
the head with those lines added, made per call.
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


@dataclass(frozen=True, slots=True)
class Target:
    origin: tuple[str, str, int]  # (scheme, host, port): the key of the connection pool
    host: str
    port: int
    tls: bool
    head: bytes  # request line and fields, ending with "Content-Length: "

    def with_fields(self, fields: Mapping[str, str]) -> Target:
        """This target with more header fields (a per-call signature); raises ``ValueError``
        for a field that cannot go on the wire."""
        lines = _field_lines(fields)
        if not lines:
            return self
        extra = ("\r\n".join(lines) + "\r\n").encode("latin-1", "strict")
        head = self.head[: -len(_LENGTH)] + extra + _LENGTH
        return Target(self.origin, self.host, self.port, self.tls, head)


def post_target(url: str, headers: Mapping[str, str], *, encoded: bool = False) -> Target:
    """A POST to ``url`` with ``headers``; raises ``ValueError`` for a URL or a field that
    cannot go on the wire as it is.

    ``encoded``: the URL is already percent-encoded and its path and query go out byte for
    byte (without it they are normalised, ``%3A`` decoded to ``:`` for one): a signed
    request must carry the path that was signed."""
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
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {authority}",
        f"User-Agent: {USER_AGENT}",
        "Accept-Encoding: identity",
        *_field_lines(headers),
        "Content-Length: ",
    ]
    head = "\r\n".join(lines).encode("latin-1", "strict")
    return Target((scheme, host, port), host, port, scheme == "https", head)


def _field_lines(fields: Mapping[str, str]) -> list[str]:
    lines = []
    for name, value in fields.items():
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise ValueError(f"the value of header {name} holds a line break or NUL")
        if name.lower() in _OWN_FIELDS:
            continue
        lines.append(f"{name}: {value}")
    return lines
