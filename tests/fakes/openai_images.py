"""The OpenAI images routes of the fake OpenAI upstream (``POST /v1/images/generations``,
JSON; ``POST /v1/images/edits``, multipart), in the documented shapes.

Rules, so tests can assert exact bytes: image ``i`` of a call is ``png(seed(prompt, i))``
(an edit adds the SHA-256 of each input image, and of the mask, to the seed). A model whose
name starts with ``dall-e`` honours ``response_format`` (``url`` by default: the image is
then served by the fake at ``/files/{name}.png``); any other answers base64 always, with
``usage`` (``input_tokens`` = words of the prompt, ``output_tokens`` = 100 per image), as
gpt-image does.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from .images import png, seed

OUTPUT_TOKENS_PER_IMAGE = 100


def make_answer(
    body: dict[str, Any], inputs: list[bytes], stored: dict[str, bytes], origin: str
) -> dict[str, Any]:
    """The answer to a generations body (or an edit's fields with its input files)."""
    model = str(body.get("model", ""))
    prompt = str(body.get("prompt", ""))
    n = int(body.get("n") or 1)
    extra = [hashlib.sha256(data).hexdigest()[:16] for data in inputs]
    as_url = model.startswith("dall-e") and body.get("response_format", "url") == "url"
    data: list[dict[str, Any]] = []
    for index in range(n):
        image = png(seed(prompt, index, *extra))
        if as_url:
            name = secrets.token_hex(8) + ".png"
            stored[name] = image
            data.append({"url": f"{origin}/files/{name}", "revised_prompt": prompt.upper()})
        else:
            data.append({"b64_json": base64.b64encode(image).decode()})
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if not model.startswith("dall-e"):
        answer["usage"] = {
            "input_tokens": max(1, len(prompt.split())),
            "output_tokens": OUTPUT_TOKENS_PER_IMAGE * n,
            "total_tokens": max(1, len(prompt.split())) + OUTPUT_TOKENS_PER_IMAGE * n,
        }
    return answer


def read_form(raw: bytes, content_type: str) -> tuple[dict[str, Any], list[bytes]]:
    """An edit's text fields and its files (images, then the mask), read with the standard
    library's MIME parser (not the gateway's)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields: dict[str, Any] = {}
    images: list[bytes] = []
    mask: list[bytes] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(data, bytes)
        if part.get_filename() is not None:
            (mask if name == "mask" else images).append(data)
        else:
            fields[name] = data.decode()
    return fields, images + mask
