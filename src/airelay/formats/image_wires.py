"""The image wire of each upstream image format, by name (``formats.images.ImageWire``)."""

from __future__ import annotations

from airelay.formats import dashscope_images, gemini_images, openai_images
from airelay.formats.images import ImageWire
from airelay.formats.names import WireFormat

IMAGE_WIRES: dict[WireFormat, ImageWire] = {
    WireFormat.OPENAI_IMAGES: openai_images.WIRE,
    WireFormat.GEMINI_IMAGES: gemini_images.WIRE,
    WireFormat.DASHSCOPE_IMAGES: dashscope_images.WIRE,
}


def image_wire(name: WireFormat) -> ImageWire | None:
    """The image wire of ``name``; None for a format that makes no images."""
    return IMAGE_WIRES.get(name)
