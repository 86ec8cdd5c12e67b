"""PNG to 8-bit RGB for previews in the terminal, with Pillow, after the bounds of providers/png_bounds.py."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from providers.errors import ProtocolError
from providers.png_bounds import check_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 4096 * 4096
"""Larger images are refused: a preview has no reason to hold more."""


class PngError(ValueError):
    """The bytes are not a PNG the preview can show."""


@dataclass(frozen=True, slots=True)
class RgbImage:
    """Pixels as RGB bytes, row by row; transparency is already composited over black."""

    width: int
    height: int
    pixels: bytes

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        at = (y * self.width + x) * 3
        return self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]


def decode_png(data: bytes) -> RgbImage:
    """Decode a PNG into RGB, transparency over black. Raises PngError. The size is checked from the header and
    the image data's inflated size before Pillow decodes anything, so a decompression bomb is refused unread."""
    from PIL import Image, UnidentifiedImageError  # on the first image shown, not at start-up

    preview_size(data[:33])
    try:
        check_png(data, None)
    except ProtocolError as exc:
        raise PngError(exc.message) from None
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
                rgb = Image.alpha_composite(black, rgba).convert("RGB")
            else:
                rgb = image.convert("RGB")
            return RgbImage(rgb.width, rgb.height, rgb.tobytes())
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:  # Pillow's ways of saying "broken"
        raise PngError(f"PNG cannot be decoded: {exc}") from None


def preview_size(head: bytes) -> tuple[int, int]:
    """Width and height from the IHDR at the start of a PNG (33 bytes are enough); PngError when it is not a PNG
    or declares more than MAX_PIXELS, so no decoder is asked to inflate it."""
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < 24:
        raise PngError("not a PNG: no IHDR at the start")
    width, height = struct.unpack(">II", head[16:24])
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise PngError(f"PNG size {width}x{height} is outside what a preview shows")
    return width, height
