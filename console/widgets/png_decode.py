"""A small PNG decoder on stdlib zlib: any non-interlaced PNG to 8-bit RGB, for previews in the terminal."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 4096 * 4096
"""Larger images are refused: a preview has no reason to hold more."""

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""PNG colour type → samples per pixel (grey, RGB, palette, grey+alpha, RGBA)."""


class PngError(ValueError):
    """The bytes are not a PNG this decoder can read."""


@dataclass(frozen=True, slots=True)
class RgbImage:
    """Pixels as RGB bytes, row by row; transparency is already composited over black."""

    width: int
    height: int
    pixels: bytes

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        at = (y * self.width + x) * 3
        return self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]


@dataclass(frozen=True, slots=True)
class _Header:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlace: int

    @property
    def bits_per_pixel(self) -> int:
        return _CHANNELS[self.colour_type] * self.bit_depth

    @property
    def stride(self) -> int:
        return (self.width * self.bits_per_pixel + 7) // 8


def decode_png(data: bytes) -> RgbImage:
    """Decode a PNG (bit depths 1–16, every colour type, no Adam7 interlacing) into RGB. Raises PngError."""
    header, palette, compressed = _read_chunks(data)
    expected = (header.stride + 1) * header.height
    try:
        # Never more than the declared size (already within MAX_PIXELS): a zlib bomb stops here, not at gigabytes.
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, expected + 1)
    except zlib.error as exc:
        raise PngError(f"PNG image data does not inflate: {exc}") from None
    if len(raw) > expected:
        raise PngError(f"PNG image data inflates past its declared {header.width}x{header.height}: "
                       "refused as a decompression bomb")
    out = bytearray()
    for row in _unfilter(raw, header):
        out += _row_to_rgb(row, header, palette)
    return RgbImage(header.width, header.height, bytes(out))


def preview_size(head: bytes) -> tuple[int, int]:
    """Width and height from the IHDR at the start of a PNG (33 bytes are enough); PngError when it is not a PNG
    or declares more than MAX_PIXELS, so no decoder is asked to inflate it."""
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR" or len(head) < 24:
        raise PngError("not a PNG: no IHDR at the start")
    width, height = struct.unpack(">II", head[16:24])
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise PngError(f"PNG size {width}x{height} is outside what a preview shows")
    return width, height


def _read_chunks(data: bytes) -> tuple[_Header, bytes, bytes]:
    if not data.startswith(PNG_SIGNATURE):
        raise PngError("not a PNG: the signature is missing")
    position = len(PNG_SIGNATURE)
    header: _Header | None = None
    palette = b""
    idat: list[bytes] = []
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if len(body) != length:
            raise PngError(f"PNG chunk {kind!r} is truncated")
        position += 12 + length  # length, type, body, CRC
        if kind == b"IHDR":
            header = _parse_header(body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None or not idat:
        raise PngError("PNG has no IHDR or no image data")
    if header.colour_type == 3 and not palette:
        raise PngError("palette PNG without a PLTE chunk")
    return header, palette, b"".join(idat)


def _parse_header(body: bytes) -> _Header:
    if len(body) != 13:
        raise PngError("IHDR has the wrong length")
    width, height, bit_depth, colour_type, _compression, _filter, interlace = struct.unpack(">IIBBBBB", body)
    if colour_type not in _CHANNELS or bit_depth not in (1, 2, 4, 8, 16):
        raise PngError(f"unsupported PNG colour type {colour_type} / bit depth {bit_depth}")
    if interlace:
        raise PngError("interlaced PNGs are not supported by the preview")
    if width <= 0 or height <= 0 or width * height > MAX_PIXELS:
        raise PngError(f"PNG size {width}x{height} is outside what a preview shows")
    return _Header(width, height, bit_depth, colour_type, interlace)


def _unfilter(raw: bytes, header: _Header) -> Iterator[bytes]:
    """Undo the per-scanline filters (None, Sub, Up, Average, Paeth) of PNG §9, one row at a time."""
    stride, bpp = header.stride, max(1, header.bits_per_pixel // 8)
    if len(raw) < (stride + 1) * header.height:
        raise PngError("PNG image data is shorter than its size says")
    previous = bytes(stride)
    for y in range(header.height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = previous[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, previous[i], up_left)) & 0xFF
        elif kind != 0:
            raise PngError(f"unknown PNG filter type {kind} on row {y}")
        previous = bytes(line)
        yield previous


def _paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    to_left, to_up, to_up_left = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
    if to_left <= to_up and to_left <= to_up_left:
        return left
    return up if to_up <= to_up_left else up_left


def _samples(row: bytes, header: _Header) -> list[int]:
    """Every sample of a row scaled to 0–255 (palette indices stay indices)."""
    count = header.width * _CHANNELS[header.colour_type]
    depth = header.bit_depth
    if depth == 8:
        return list(row[:count])
    if depth == 16:
        return list(row[0:count * 2:2])  # the high byte is plenty for a preview
    per_byte, mask = 8 // depth, (1 << depth) - 1
    values = [(byte >> (8 - depth * (k + 1))) & mask for byte in row for k in range(per_byte)][:count]
    if header.colour_type == 3:
        return values
    return [v * 255 // mask for v in values]


def _row_to_rgb(row: bytes, header: _Header, palette: bytes) -> bytes:
    colour_type = header.colour_type
    if colour_type == 2 and header.bit_depth == 8:
        return row[:header.width * 3]
    samples = _samples(row, header)
    if colour_type == 2:
        return bytes(samples)
    if colour_type == 0:
        return bytes(v for grey in samples for v in (grey, grey, grey))
    if colour_type == 3:
        out = bytearray()
        for index in samples:
            entry = palette[index * 3:index * 3 + 3]
            out += entry if len(entry) == 3 else b"\x00\x00\x00"
        return bytes(out)
    if colour_type == 4:
        return bytes(v for grey, alpha in zip(samples[0::2], samples[1::2], strict=True)
                     for v in (grey * alpha // 255,) * 3)
    out = bytearray()  # colour type 6: RGBA composited over black
    for i in range(0, len(samples), 4):
        alpha = samples[i + 3]
        out += bytes((samples[i] * alpha // 255, samples[i + 1] * alpha // 255, samples[i + 2] * alpha // 255))
    return bytes(out)
