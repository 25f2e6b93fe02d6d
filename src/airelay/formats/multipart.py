"""A ``multipart/form-data`` body (RFC 7578) read where it lies: each part's name, file name,
content type and the span of its value in the body, never a copy of an uploaded file.

The gateway reads a form only to route and price it (the ``model`` field, the file's
duration) and passes the body on as it came, so the parts are offsets into the bytes the
client sent. Only a renamed model rebuilds the body (``replace_value``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PARTS = 64
MAX_HEADER_BYTES = 8192
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None  # set for a file part
    content_type: str | None
    start: int  # the value's span in the body
    end: int


@dataclass(frozen=True, slots=True)
class Form:
    body: bytes
    parts: tuple[Part, ...]

    def part(self, name: str) -> Part | None:
        """The first part named ``name``."""
        for part in self.parts:
            if part.name == name:
                return part
        return None

    def text(self, name: str) -> str | None:
        """The value of a field (not a file) as text; raises ``ValueError`` when it is not
        UTF-8."""
        part = self.part(name)
        if part is None or part.filename is not None:
            return None
        try:
            return self.body[part.start : part.end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"form field '{name}' is not UTF-8 text") from exc

    def value(self, part: Part) -> memoryview:
        """A part's value, without a copy."""
        return memoryview(self.body)[part.start : part.end]

    def replace_value(self, name: str, value: str) -> bytes:
        """The body with the value of field ``name`` replaced (a renamed model)."""
        part = self.part(name)
        if part is None:
            raise ValueError(f"the form has no '{name}' field")
        return b"".join((self.body[: part.start], value.encode(), self.body[part.end :]))


def boundary_of(content_type: str) -> str:
    """The boundary of a ``multipart/form-data`` content type; raises ``ValueError``."""
    kind, _, rest = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise ValueError("the body must be multipart/form-data")
    for match in _PARAM.finditer(";" + rest):
        if match.group(1).lower() == "boundary":
            boundary = _unquote(match.group(2).strip())
            if 1 <= len(boundary) <= 70:
                return boundary
    raise ValueError("the multipart/form-data content type has no valid boundary")


def parse(body: bytes, boundary: str) -> Form:
    """The parts of ``body``; raises ``ValueError`` for one that is not a well-formed form."""
    delimiter = b"--" + boundary.encode("latin-1")
    # RFC 2046 allows a preamble; no HTTP client sends one, and refusing it keeps the
    # boundary readable from the body's first line (``boundary_in``).
    if not body.startswith(delimiter):
        raise ValueError("the multipart body does not start with its boundary")
    position = 0
    parts: list[Part] = []
    separator = b"\r\n" + delimiter
    while True:
        position += len(delimiter)
        if body.startswith(b"--", position):
            break  # the close delimiter
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise ValueError("the multipart body ends inside a delimiter line")
        if body[position:line_end].strip(b" \t"):
            raise ValueError("a multipart delimiter line carries text")
        header_start = line_end + 2
        header_end = body.find(b"\r\n\r\n", header_start - 2, header_start + MAX_HEADER_BYTES)
        if header_end < 0:
            raise ValueError("a multipart part has no end to its headers")
        data_start = header_end + 4
        data_end = body.find(separator, data_start)
        if data_end < 0:
            raise ValueError("the multipart body has no close delimiter")
        parts.append(_part(body[header_start:header_end], data_start, data_end))
        if len(parts) > MAX_PARTS:
            raise ValueError(f"the form has more than {MAX_PARTS} parts")
        position = data_end + 2
    return Form(body, tuple(parts))


def boundary_in(body: bytes) -> str:
    """The boundary of a body ``parse`` accepted: its first line without the dashes."""
    return body[2 : body.find(b"\r\n")].decode("latin-1")


def _part(headers: bytes, start: int, end: int) -> Part:
    name: str | None = None
    filename: str | None = None
    content_type: str | None = None
    for line in headers.decode("utf-8", "replace").split("\r\n"):
        field, _, value = line.partition(":")
        field = field.strip().lower()
        if field == "content-disposition":
            kind, _, rest = value.partition(";")
            if kind.strip().lower() != "form-data":
                raise ValueError("a multipart part is not form-data")
            for match in _PARAM.finditer(";" + rest):
                key = match.group(1).lower()
                if key == "name":
                    name = _unquote(match.group(2).strip())
                elif key == "filename":
                    filename = _unquote(match.group(2).strip())
        elif field == "content-type":
            content_type = value.strip()
    if not name:
        raise ValueError("a multipart part has no name")
    return Part(name, filename, content_type, start, end)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value
