"""The image wire of each upstream image format, by name (``formats.images.ImageWire``)."""

from __future__ import annotations

import orjson

from airelay.formats import dashscope_images, gemini_images, openai_images
from airelay.formats.images import ImageWire
from airelay.formats.names import WireFormat
from airelay.formats.openai_codec import CODEC as OPENAI

IMAGE_WIRES: dict[WireFormat, ImageWire] = {
    WireFormat.OPENAI_IMAGES: openai_images.WIRE,
    WireFormat.GEMINI_IMAGES: gemini_images.WIRE,
    WireFormat.DASHSCOPE_IMAGES: dashscope_images.WIRE,
}


def image_wire(name: WireFormat) -> ImageWire | None:
    """The image wire of ``name``; None for a format that makes no images."""
    return IMAGE_WIRES.get(name)


#: The error shape of each format an image client speaks (OpenAI's: the SDK raises its
#: typed errors from it).
_CLIENT_ERRORS = {WireFormat.OPENAI_IMAGES: OPENAI}


def client_error(client: WireFormat, status: int, message: str) -> bytes:
    """An error body in the shape of the ``client``'s image format."""
    return orjson.dumps(_CLIENT_ERRORS[client].error_body(status, message, None))
