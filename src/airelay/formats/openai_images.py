"""OpenAI images: ``POST /v1/images/generations`` (JSON) and ``/v1/images/edits``
(multipart: ``image`` (or ``image[]``, several), ``mask``, ``prompt``, ``n``, ``size``,
``quality``, ``response_format``...): the request's checks, and the wire of an
OpenAI-compatible upstream (gpt-image, DALL-E, Seedream on Ark, Flux providers).

The client's bytes go to such an upstream as they are; only a renamed model makes the
gateway write the body again (the JSON with the upstream's name, or the same form parts
under a new boundary). The answer, ``{created, data: [{url | b64_json, revised_prompt}],
usage?}``, comes back with its other fields untouched.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import orjson

from airelay.formats import multipart as forms
from airelay.formats.images import (
    B64_JSON,
    URL,
    Built,
    Generated,
    ImageAnswer,
    ImageRequest,
    Part,
    Pending,
)
from airelay.formats.names import WireFormat
from airelay.formats.usage import Usage

MAX_N = 10
MAX_PROMPT_CHARS = 32_000
MAX_EDIT_IMAGES = 16
QUALITIES = ("standard", "hd", "low", "medium", "high", "auto")
STYLES = ("vivid", "natural")
RESPONSE_FORMATS = (URL, B64_JSON)
OUTPUT_FORMATS = ("png", "jpeg", "webp")
_SIZE = re.compile(r"[1-9][0-9]{1,4}x[1-9][0-9]{1,4}")
_INT_FIELDS = ("n", "output_compression", "partial_images")


def check_generation(payload: Any, body: bytes, content_type: str) -> ImageRequest:
    """A valid generations request; raises ``ValueError`` (a 400 message) otherwise."""
    if not isinstance(payload, dict):
        raise ValueError("request body must be a JSON object")
    if payload.get("stream"):
        raise ValueError("'stream' is not supported for images; ask for whole answers")
    return _checked(payload, body, content_type, edit=False)


def form_parts(body: bytes, content_type: str) -> list[Part]:
    """An edits form's parts in order, each with a copy of its value (an image goes on to
    an upstream that may need it re-encoded); raises ``ValueError`` for a malformed form."""
    form = forms.parse(body, forms.boundary_of(content_type))
    return [Part(p.name, bytes(form.value(p)), p.filename, p.content_type) for p in form.parts]


def check_edit(parts: list[Part], body: bytes, content_type: str) -> ImageRequest:
    """A valid edits form (its parts in order); raises ``ValueError`` otherwise."""
    fields: dict[str, Any] = {}
    images: list[Part] = []
    mask: Part | None = None
    for part in parts:
        if part.name in ("image", "image[]"):
            if part.filename is None:
                raise ValueError("'image' must be a file")
            images.append(part)
        elif part.name == "mask":
            if part.filename is None:
                raise ValueError("'mask' must be a file")
            mask = part
        elif part.filename is not None:
            raise ValueError(f"unexpected file field '{part.name}'")
        else:
            fields[part.name] = _form_value(part)
    if not images:
        raise ValueError("'image' is required: the image (or images) to edit")
    if len(images) > MAX_EDIT_IMAGES:
        raise ValueError(f"at most {MAX_EDIT_IMAGES} images may be edited at once")
    if any(not image.data for image in images) or (mask is not None and not mask.data):
        raise ValueError("an uploaded image is empty")
    request = _checked(fields, body, content_type, edit=True)
    request.parts, request.images, request.mask = parts, images, mask
    return request


def _form_value(part: Part) -> Any:
    """A form field as the JSON body would carry it: integers for the numeric fields."""
    text = part.text
    if part.name in _INT_FIELDS:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"'{part.name}' must be an integer") from None
    return text


def _checked(fields: dict[str, Any], body: bytes, content_type: str, *, edit: bool) -> ImageRequest:
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("'model' is required and must be a non-empty string")
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("'prompt' is required and must be a non-empty string")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"'prompt' must be at most {MAX_PROMPT_CHARS} characters")
    n = fields.get("n", 1)
    if n is None:
        n = 1
    if not _is_int(n) or not 1 <= n <= MAX_N:
        raise ValueError(f"'n' must be an integer from 1 to {MAX_N}")
    size = _one_of(fields, "size", None)
    if size is not None and size != "auto" and not _SIZE.fullmatch(size):
        raise ValueError(
            f"unsupported size '{size}': give WIDTHxHEIGHT (such as 1024x1024) or auto"
        )
    quality = _one_of(fields, "quality", QUALITIES)
    _one_of(fields, "style", STYLES)
    response_format = _one_of(fields, "response_format", RESPONSE_FORMATS)
    _one_of(fields, "output_format", OUTPUT_FORMATS)
    user = fields.get("user")
    if user is not None and not isinstance(user, str):
        raise ValueError("'user' must be a string")
    return ImageRequest(
        edit=edit,
        model=model,
        prompt=prompt,
        n=n,
        size=size,
        quality=quality,
        response_format=response_format,
        body=body,
        content_type=content_type,
        fields=fields,
    )


def _one_of(fields: dict[str, Any], name: str, allowed: tuple[str, ...] | None) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        choices = "a string" if allowed is None else " or ".join(f"'{a}'" for a in allowed)
        raise ValueError(f"'{name}' must be {choices}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def multipart(parts: list[Part]) -> tuple[bytes, str]:
    """``parts`` as a multipart/form-data body under a fresh boundary, and its content type."""
    boundary = "airelay-" + secrets.token_hex(12)
    out = bytearray()
    for part in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{_quoted(part.name)}"'
        if part.filename is not None:
            disposition += f'; filename="{_quoted(part.filename)}"'
        out += f"Content-Disposition: {disposition}\r\n".encode()
        if part.content_type is not None:
            out += f"Content-Type: {part.content_type}\r\n".encode()
        out += b"\r\n" + part.data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def usage_of(document: dict[str, Any]) -> Usage | None:
    """gpt-image's ``usage`` (``input_tokens``, ``output_tokens``), when it is there."""
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, output = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    if prompt is None and output is None:
        return None
    return Usage(prompt_tokens=prompt or 0, completion_tokens=output or 0)


def _count(value: Any) -> int | None:
    return value if _is_int(value) and value >= 0 else None


def read_answer(body: bytes) -> ImageAnswer:
    """An OpenAI images answer; ``ValueError`` unless it is an object with a ``data`` list
    of images (each a ``url`` or ``b64_json``)."""
    document = orjson.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ValueError("the answer has no 'data' list")
    images: list[Generated] = []
    mime = "image/" + str(document.get("output_format") or "png")
    for item in document["data"]:
        if not isinstance(item, dict):
            raise ValueError("an item of 'data' is not an object")
        b64, url = item.get("b64_json"), item.get("url")
        if not isinstance(b64, str) and not isinstance(url, str):
            raise ValueError("an image has neither 'b64_json' nor 'url'")
        revised = item.get("revised_prompt")
        images.append(
            Generated(
                b64=b64 if isinstance(b64, str) else None,
                url=url if isinstance(url, str) else None,
                mime=mime,
                revised_prompt=revised if isinstance(revised, str) else None,
            )
        )
    if not images:
        raise ValueError("the answer holds no image")
    return ImageAnswer(images, usage_of(document), document)


class OpenAIImages:
    """An OpenAI-compatible images upstream: the client's request passed through."""

    name = WireFormat.OPENAI_IMAGES
    edits = True

    def url(self, head_url: str, request: ImageRequest) -> str:
        # Edits sit beside generations below the base URL (``.../v1/images/edits``).
        if request.edit and head_url.endswith("/generations"):
            return head_url[: -len("/generations")] + "/edits"
        return head_url

    def build(self, request: ImageRequest, upstream_model: str) -> Built:
        if not request.edit:
            if upstream_model == request.model:
                return Built(request.body)
            return Built(orjson.dumps({**request.fields, "model": upstream_model}))
        if upstream_model == request.model:
            return Built(request.body, request.content_type)
        parts = [
            Part("model", upstream_model.encode())
            if p.name == "model" and p.filename is None
            else p
            for p in request.parts
        ]
        body, content_type = multipart(parts)
        return Built(body, content_type)

    def answer(self, body: bytes) -> ImageAnswer | Pending:
        return read_answer(body)

    def poll(self, body: bytes) -> ImageAnswer | Pending:
        raise ValueError("an OpenAI images upstream answers at once; there is no task to poll")


WIRE = OpenAIImages()
