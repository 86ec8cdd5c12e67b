"""A strict check of generated PNGs for the image tests: signature, every chunk's CRC, and the pixel data size."""

from __future__ import annotations

import struct
import zlib


def decoded_png_size(data: bytes) -> tuple[int, int]:
    """Width and height of an RGB PNG, checking every chunk's CRC and that the pixels decompress to that size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat, size = 8, b"", (0, 0)
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        assert struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        idat += body if kind == b"IDAT" else b""
        offset += 12 + length
    width, height = size
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    return width, height
