"""ImageView: a picture drawn in text cells, two pixels per cell with ▀ (upper pixel fg, lower pixel bg)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from console.widgets.png_decode import RgbImage

Rgb = tuple[int, int, int]
HalfCell = tuple[Rgb, Rgb | None]
"""One cell: the upper pixel and the lower one (None below the last row of an odd-height image)."""
Renderer = Literal["halfblock", "graphics", "none"]

UPPER_HALF_BLOCK = "▀"
GRAPHICS_PROTOCOLS = ("kitty", "sixel", "iterm2")


def choose_renderer(setting: str, environ: Mapping[str, str], *, graphics_available: bool) -> Renderer:
    """How to show images: `ui.image_protocol` wins; `auto` uses a graphics protocol only on a local terminal
    (over SSH or inside tmux escape sequences for pictures are slow or mangled), and half-block otherwise."""
    if setting == "none":
        return "none"
    if setting == "halfblock":
        return "halfblock"
    if setting in GRAPHICS_PROTOCOLS:
        return "graphics" if graphics_available else "halfblock"
    if environ.get("SSH_CONNECTION") or environ.get("TMUX"):
        return "halfblock"
    return "graphics" if graphics_available else "halfblock"


def fit_size(width: int, height: int, max_cols: int, max_rows: int) -> tuple[int, int]:
    """Pixel size (w, h) that fits max_cols × 2·max_rows half-cells and keeps the image's aspect ratio."""
    if max_cols <= 0 or max_rows <= 0:
        return 0, 0
    scale = min(max_cols / width, 2 * max_rows / height)
    return max(1, min(max_cols, round(width * scale))), max(1, min(2 * max_rows, round(height * scale)))


def resample(image: RgbImage, out_width: int, out_height: int) -> list[list[Rgb]]:
    """The image at a new size: each output pixel averages a 2×2 sample of its source block (cheap enough to
    redo on every resize, unlike a full box filter), or takes the nearest pixel when enlarging."""
    grid: list[list[Rgb]] = []
    step_x, step_y = image.width / out_width, image.height / out_height
    for oy in range(out_height):
        row: list[Rgb] = []
        ys = _sample_points(oy, step_y, image.height)
        for ox in range(out_width):
            xs = _sample_points(ox, step_x, image.width)
            points = [image.pixel(x, y) for y in ys for x in xs]
            count = len(points)
            row.append((sum(p[0] for p in points) // count, sum(p[1] for p in points) // count,
                        sum(p[2] for p in points) // count))
        grid.append(row)
    return grid


def _sample_points(index: int, step: float, limit: int) -> tuple[int, ...]:
    if step < 2:
        return (min(limit - 1, int((index + 0.5) * step)),)
    return (min(limit - 1, int((index + 0.25) * step)), min(limit - 1, int((index + 0.75) * step)))


def half_block_cells(image: RgbImage, max_cols: int, max_rows: int) -> list[list[HalfCell]]:
    """Rows of cells for the image fitted into max_cols × max_rows cells."""
    out_width, out_height = fit_size(image.width, image.height, max_cols, max_rows)
    if not out_width:
        return []
    grid = resample(image, out_width, out_height)
    cells: list[list[HalfCell]] = []
    for y in range(0, out_height, 2):
        lower = grid[y + 1] if y + 1 < out_height else None
        cells.append([(upper, lower[x] if lower else None) for x, upper in enumerate(grid[y])])
    return cells


def cell_style(cell: HalfCell) -> Style:
    upper, lower = cell
    return Style(color=Color.from_rgb(*upper), bgcolor=Color.from_rgb(*lower) if lower else None)


class ImageView(Widget):
    """Shows one RgbImage, fitted and centred; recomputes its cells only when the image or its size changes."""

    DEFAULT_CSS = """
    ImageView {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.image: RgbImage | None = None
        self._cells: list[list[HalfCell]] = []
        self._cells_for: tuple[int, int] | None = None

    def show(self, image: RgbImage | None) -> None:
        self.image = image
        self._cells_for = None
        self.refresh()

    def cells(self) -> list[list[HalfCell]]:
        """The cells for the current size (cached)."""
        size = (self.size.width, self.size.height)
        if self._cells_for != size:
            self._cells = half_block_cells(self.image, *size) if self.image is not None else []
            self._cells_for = size
        return self._cells

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        background = self.rich_style
        cells = self.cells()
        top = (self.size.height - len(cells)) // 2
        row = y - top
        if not 0 <= row < len(cells):
            return Strip.blank(width, background)
        line = cells[row]
        left = (width - len(line)) // 2
        segments = [Segment(" " * left, background)] if left > 0 else []
        segments += [Segment(UPPER_HALF_BLOCK, background + cell_style(cell)) for cell in line]
        return Strip(segments).adjust_cell_length(width, background)
