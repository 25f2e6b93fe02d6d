"""Image generation, whatever the upstream's wire: the client's request as the gateway read
it (``ImageRequest``), what an upstream answered (``ImageAnswer``, or ``Pending`` for a
task still running), and the ``ImageWire`` each upstream image format implements.

An image call is not a chat call: there is no IR of messages to translate. Each upstream
format instead maps the one OpenAI-shaped request (the only image API clients speak) to its
own body, and its answer back to a list of images (base64 bytes or a URL each), so that the
relay can hand the client what it asked for (``response_format``) and bill per image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from airelay.formats.names import WireFormat
from airelay.formats.usage import Usage

#: What the client may ask the images to come back as.
URL = "url"
B64_JSON = "b64_json"


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a multipart form: a text field (no filename) or a file."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass(slots=True)
class ImageRequest:
    """An image call as the client made it (generations as JSON, edits as a form)."""

    edit: bool
    model: str
    prompt: str
    n: int
    size: str | None  # "1024x1024", "auto", or None (the upstream's default)
    quality: str | None
    response_format: str | None  # ``URL``, ``B64_JSON``, or None (the upstream's default)
    body: bytes  # as received
    content_type: str  # as received (an edit's carries the form's boundary)
    fields: dict[str, Any] = field(default_factory=dict)  # the JSON body, or the form's texts
    parts: list[Part] = field(default_factory=list)  # an edit's form, every part in order
    images: list[Part] = field(default_factory=list)  # an edit's input images
    mask: Part | None = None


@dataclass(slots=True)
class Generated:
    """One image of an answer: its base64 bytes, or a URL where the upstream keeps it."""

    b64: str | None = None
    url: str | None = None
    mime: str = "image/png"
    revised_prompt: str | None = None


@dataclass(slots=True)
class ImageAnswer:
    """What an upstream made. ``document``: the upstream's own answer when it is already
    OpenAI-shaped (its other fields go back to the client as they came)."""

    images: list[Generated]
    usage: Usage | None = None  # tokens, when the upstream reports them
    document: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """A task the upstream accepted and is still working on."""

    task_id: str


class TaskFailed(Exception):
    """The upstream's task ended without images; the message is the upstream's reason."""


@dataclass(frozen=True, slots=True)
class Built:
    """An upstream request: its body, and its content type when it is not the head's
    (a multipart form's carries its boundary)."""

    body: bytes
    content_type: str | None = None


class ImageWire(Protocol):
    """An upstream image format: how a request goes out and how an answer comes back."""

    name: WireFormat
    #: Whether its upstream edits images (takes input images and a mask).
    edits: bool

    def url(self, head_url: str, request: ImageRequest) -> str:
        """The URL of this request, from the provider's URL for the images endpoint."""
        ...

    def build(self, request: ImageRequest, upstream_model: str) -> Built:
        """The upstream's body for ``request``."""
        ...

    def answer(self, body: bytes) -> ImageAnswer | Pending:
        """A 200 answer read; raises ``ValueError`` when it holds no usable image."""
        ...

    def poll(self, body: bytes) -> ImageAnswer | Pending:
        """A task's status read (task formats only); raises ``TaskFailed`` when the task
        ended without images, ``ValueError`` for an answer that cannot be read."""
        ...


def with_images(answer: ImageAnswer, created: int) -> dict[str, Any]:
    """The OpenAI images answer (``{created, data: [...]}``) for ``answer``: the upstream's
    own document when it had one (its other fields kept), its ``data`` replaced."""
    data: list[dict[str, Any]] = []
    for image in answer.images:
        item: dict[str, Any] = {}
        if image.url is not None:
            item["url"] = image.url
        if image.b64 is not None:
            item["b64_json"] = image.b64
        if image.revised_prompt is not None:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    document: dict[str, Any] = (
        dict(answer.document) if answer.document is not None else {"created": created}
    )
    document.setdefault("created", created)
    document["data"] = data
    return document


def mime_extension(mime: str) -> str:
    """The file extension of an image type (``png`` when it is not one of the usual)."""
    return {
        "image/jpeg": "jpeg",
        "image/jpg": "jpeg",
        "image/webp": "webp",
        "image/gif": "gif",
    }.get(mime.split(";")[0].strip().lower(), "png")


def sniff_mime(data: bytes) -> str | None:
    """An image's type from its first bytes (None: not an image type the gateway serves)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None
