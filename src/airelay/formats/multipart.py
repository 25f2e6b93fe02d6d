"""Reading a ``multipart/form-data`` body (RFC 7578) that is already in memory: its parts
in order, each a text field or a file with its bytes exactly as sent.

The gateway reads the whole body anyway (its size is capped before), so that it can pass
the very same bytes to an upstream that speaks the same API; this parses them in place.
"""

from __future__ import annotations

import re

from airelay.formats.images import Part

_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))', re.IGNORECASE)
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)="((?:[^"\\]|\\.)*)"|;\s*([A-Za-z0-9_*-]+)=([^;\s]+)')


def boundary_of(content_type: str) -> str:
    """The boundary of a ``multipart/form-data`` content type; ``ValueError`` otherwise."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise ValueError("the body must be multipart/form-data")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise ValueError("the multipart content type has no boundary")
    return str(match.group(1) or match.group(2))


def parse(body: bytes, content_type: str, max_parts: int = 64) -> list[Part]:
    """The parts of ``body``; ``ValueError`` (a 400 message) for a malformed form."""
    delimiter = b"--" + boundary_of(content_type).encode("latin-1")
    pieces = body.split(b"\r\n" + delimiter)
    if pieces[0].startswith(delimiter):
        pieces[0] = pieces[0][len(delimiter) :]
    else:  # a preamble before the first delimiter (which then follows a line break)
        pieces = pieces[1:]
        if not pieces:
            raise ValueError("malformed multipart body: no opening boundary")
    parts: list[Part] = []
    closed = False
    for piece in pieces:
        if piece.startswith(b"--"):
            closed = True
            break
        if len(parts) >= max_parts:
            raise ValueError(f"the form has more than {max_parts} parts")
        parts.append(_part(piece))
    if not closed:
        raise ValueError("malformed multipart body: no closing boundary")
    return parts


def _part(piece: bytes) -> Part:
    # After the delimiter: optional padding, CRLF, header fields, an empty line, the data.
    line_end = piece.find(b"\r\n")
    if line_end < 0 or piece[:line_end].strip(b" \t"):
        raise ValueError("malformed multipart body: a boundary line is not alone")
    head, separator, data = piece[line_end + 2 :].partition(b"\r\n\r\n")
    if not separator:
        if piece[line_end + 2 :].startswith(b"\r\n"):  # a part with no header field at all
            head, data = b"", piece[line_end + 4 :]
        else:
            raise ValueError("malformed multipart body: a part has no header end")
    fields: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    disposition = fields.get("content-disposition", "")
    if not disposition.lower().startswith("form-data"):
        raise ValueError("malformed multipart body: a part is not form-data")
    params = _params(disposition)
    part_name = params.get("name")
    if not part_name:
        raise ValueError("malformed multipart body: a part has no name")
    return Part(part_name, data, params.get("filename"), fields.get("content-type"))


def _params(disposition: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for quoted_name, quoted, bare_name, bare in _PARAM.findall(disposition):
        if quoted_name:
            params[quoted_name.lower()] = re.sub(r"\\(.)", r"\1", quoted)
        else:
            params[bare_name.lower()] = bare
    return params
