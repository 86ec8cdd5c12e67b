"""A PNG from an image server, checked before it is saved: declared size within a pixel budget, and image data
that inflates to no more than that size says. A 2 MB zlib bomb is refused here, never written or previewed."""

from __future__ import annotations

import struct
import zlib

from providers.errors import ProtocolError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

MAX_IMAGE_PIXELS = 64 * 1024 * 1024
"""64 Mpx (8192 x 8192): above any generated or upscaled image; the budget for a PNG accepted from a server."""

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PIECE = 1024 * 1024


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks: list[tuple[bytes, bytes]] = []
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunks.append((kind, data[position + 8:position + 8 + length]))
        position += 12 + length
        if kind == b"IEND":
            break
    return chunks


def inflated_limit(width: int, height: int, bit_depth: int, colour_type: int, interlace: int) -> int:
    """The most bytes the image data of such a PNG inflates to: one filter byte per row plus the row's samples
    (Adam7's seven passes add at most a filter byte and a partial byte per row and pass)."""
    stride = (width * _CHANNELS.get(colour_type, 4) * bit_depth + 7) // 8
    size = (stride + 1) * height
    return size + 16 * height + 64 if interlace else size


def check_png(data: bytes, provider: str | None) -> tuple[int, int]:
    """(width, height) of a PNG within MAX_IMAGE_PIXELS whose image data inflates to at most its declared size;
    ProtocolError otherwise. Inflation runs in bounded pieces and keeps nothing."""
    if not data.startswith(PNG_SIGNATURE):
        raise ProtocolError("image is not a PNG", provider=provider)
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise ProtocolError("PNG does not start with a valid IHDR", provider=provider)
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if width == 0 or height == 0 or width * height > MAX_IMAGE_PIXELS:
        raise ProtocolError(f"PNG declares {width}x{height} pixels, outside the budget of {MAX_IMAGE_PIXELS} pixels",
                            provider=provider)
    limit = inflated_limit(width, height, depth, colour, interlace)
    inflater = zlib.decompressobj()
    total = 0
    try:
        for kind, body in chunks:
            if kind != b"IDAT":
                continue
            pending = body
            while pending:
                total += len(inflater.decompress(pending, _PIECE))
                pending = inflater.unconsumed_tail
                if total > limit:
                    raise ProtocolError(f"PNG image data inflates past its declared {width}x{height} "
                                        f"({limit} bytes): refused as a decompression bomb", provider=provider)
    except zlib.error as exc:
        raise ProtocolError(f"PNG image data does not inflate: {exc}", provider=provider) from None
    return width, height
