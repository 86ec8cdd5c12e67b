"""The half-block image view and the stdlib PNG decoder behind it."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from rich.color import Color
from textual.app import App, ComposeResult

from console.widgets.image_view import UPPER_HALF_BLOCK, ImageView, choose_renderer, fit_size, half_block_cells
from console.widgets.png_decode import PngError, RgbImage, decode_png
from providers.emulators.png import gradient_png

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, raw: bytes, *, depth: int = 8, colour: int = 2, palette: bytes = b"") -> bytes:
    """A PNG from already-filtered scanlines, written here independently of the decoder under test."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    extra = chunk(b"PLTE", palette) if palette else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def two_by_two() -> bytes:
    return png(2, 2, b"\x00" + bytes(RED + GREEN) + b"\x00" + bytes(BLUE + WHITE))


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filtered(rows: list[bytes], kind: int, bpp: int) -> bytes:
    """Apply one PNG filter to every row (the encoder side of PNG §9)."""
    out = bytearray()
    previous = bytes(len(rows[0]))
    for row in rows:
        line = bytearray()
        for i, value in enumerate(row):
            left = row[i - bpp] if i >= bpp else 0
            up_left = previous[i - bpp] if i >= bpp else 0
            predictor = (0, left, previous[i], (left + previous[i]) // 2, paeth(left, previous[i], up_left))[kind]
            line.append((value - predictor) & 0xFF)
        out += bytes((kind,)) + line
        previous = row
    return bytes(out)


def test_a_2x2_png_renders_as_two_half_block_cells_with_the_expected_colours() -> None:
    image = decode_png(two_by_two())
    assert [image.pixel(x, y) for y in (0, 1) for x in (0, 1)] == [RED, GREEN, BLUE, WHITE]
    assert half_block_cells(image, 2, 1) == [[(RED, BLUE), (GREEN, WHITE)]]


async def test_the_widget_draws_upper_half_blocks_with_fg_upper_and_bg_lower_pixels() -> None:
    class ViewApp(App[None]):
        def compose(self) -> ComposeResult:
            yield ImageView()

    async with ViewApp().run_test(size=(2, 1)) as pilot:
        view = pilot.app.query_one(ImageView)
        view.show(decode_png(two_by_two()))
        await pilot.pause()
        segments = [s for s in view.render_line(0) if s.text]
        assert [s.text for s in segments] == [UPPER_HALF_BLOCK, UPPER_HALF_BLOCK]
        assert segments[0].style is not None and segments[1].style is not None
        assert (segments[0].style.color, segments[0].style.bgcolor) == (Color.from_rgb(*RED), Color.from_rgb(*BLUE))
        assert (segments[1].style.color, segments[1].style.bgcolor) == (Color.from_rgb(*GREEN),
                                                                        Color.from_rgb(*WHITE))


def test_an_odd_last_row_leaves_the_lower_half_to_the_background() -> None:
    image = RgbImage(1, 3, bytes(RED + GREEN + BLUE))
    assert half_block_cells(image, 1, 2) == [[(RED, GREEN)], [(BLUE, None)]]


def test_fitting_keeps_the_aspect_ratio_in_half_cells() -> None:
    assert fit_size(512, 512, 80, 20) == (40, 40)  # limited by 2×20 pixel rows
    assert fit_size(1024, 512, 40, 40) == (40, 20)
    assert fit_size(10, 10, 0, 5) == (0, 0)


def test_downscaling_averages_each_block() -> None:
    halves = decode_png(png(4, 4, b"".join(b"\x00" + bytes(RED + RED + BLUE + BLUE) for _ in range(4))))
    assert half_block_cells(halves, 2, 1) == [[(RED, RED), (BLUE, BLUE)]]
    black, white = (0, 0, 0), WHITE
    rows = [bytes(white + black + white + black), bytes(black + white + black + white)] * 2
    checker = decode_png(png(4, 4, b"".join(b"\x00" + row for row in rows)))
    grey = (127, 127, 127)
    assert half_block_cells(checker, 2, 1) == [[(grey, grey), (grey, grey)]]
    gradient = decode_png(gradient_png(64, 64, seed=3))
    cells = half_block_cells(gradient, 16, 8)
    assert len(cells) == 8 and all(len(row) == 16 for row in cells)


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_every_scanline_filter_decodes_to_the_same_pixels(kind: int) -> None:
    rng = random.Random(kind)
    rows = [bytes(rng.randrange(256) for _ in range(5 * 3)) for _ in range(4)]
    image = decode_png(png(5, 4, filtered(rows, kind, bpp=3)))
    assert image.pixels == b"".join(rows)


def test_grey_palette_rgba_and_16_bit_images_decode_to_rgb() -> None:
    grey = decode_png(png(2, 1, b"\x00\x00\xff", colour=0))
    assert grey.pixels == bytes((0, 0, 0, 255, 255, 255))
    palette = decode_png(png(3, 1, b"\x00" + bytes((0b00011011,)), depth=2, colour=3,
                             palette=bytes(RED + GREEN + BLUE + WHITE)))
    assert palette.pixels == bytes(RED + GREEN + BLUE)
    rgba = decode_png(png(1, 1, b"\x00" + bytes((200, 100, 50, 0)), colour=6))
    assert rgba.pixels == b"\x00\x00\x00", "fully transparent over black"
    deep = decode_png(png(1, 1, b"\x00" + bytes((0x12, 0x34, 0xAB, 0xCD, 0xFF, 0xFF)), depth=16))
    assert deep.pixels == bytes((0x12, 0xAB, 0xFF))


def test_what_is_not_a_readable_png_raises_png_error() -> None:
    with pytest.raises(PngError):
        decode_png(b"GIF89a...")
    with pytest.raises(PngError):
        decode_png(two_by_two()[:40])
    interlaced = two_by_two().replace(struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0),
                                      struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 1))
    with pytest.raises(PngError):
        decode_png(interlaced)


@pytest.mark.parametrize(("setting", "environ", "available", "expected"), [
    ("auto", {}, True, "graphics"),
    ("auto", {"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}, True, "halfblock"),
    ("auto", {"TMUX": "/tmp/tmux-0/default,1,0"}, True, "halfblock"),
    ("auto", {}, False, "halfblock"),
    ("kitty", {"SSH_CONNECTION": "x"}, True, "graphics"),
    ("sixel", {}, False, "halfblock"),
    ("halfblock", {}, True, "halfblock"),
    ("none", {}, True, "none"),
])
def test_the_renderer_is_half_block_over_ssh_and_tmux_unless_the_config_says_otherwise(
        setting: str, environ: dict[str, str], available: bool, expected: str) -> None:
    assert choose_renderer(setting, environ, graphics_available=available) == expected
