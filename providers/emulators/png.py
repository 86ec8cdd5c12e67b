"""Tiny valid PNG images made with zlib, for the emulators that return pictures."""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 4096
"""Larger images are refused: an emulator has no reason to spend memory on them."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _encode(width: int, height: int, rows: list[bytes] | bytes) -> bytes:
    """An 8-bit RGB PNG from raw scanlines (each already prefixed with its filter byte)."""
    raw = rows if isinstance(rows, bytes) else b"".join(rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")


def _check_size(width: int, height: int) -> None:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise ValueError(f"image size {width}x{height} outside 1..{MAX_SIDE}")


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one colour."""
    _check_size(width, height)
    row = b"\x00" + bytes(rgb) * width
    return _encode(width, height, row * height)


def gradient_png(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG with a diagonal colour gradient whose hues depend on `seed` (so different prompts differ)."""
    _check_size(width, height)
    base_r, base_g, base_b = (seed * 67) % 256, (seed * 131) % 256, (seed * 199) % 256
    reds = bytes((base_r + 255 * x // width) % 256 for x in range(width))
    blues = bytes((base_b + 255 * d // (width + height)) % 256 for d in range(width + height))
    rows: list[bytes] = []
    for y in range(height):
        pixels = bytearray(3 * width)
        pixels[0::3] = reds
        pixels[1::3] = bytes(((base_g + 255 * y // height) % 256,)) * width
        pixels[2::3] = blues[y:y + width]
        rows.append(b"\x00" + bytes(pixels))
    return _encode(width, height, rows)


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, or None when `data` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
