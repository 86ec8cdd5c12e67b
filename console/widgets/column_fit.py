"""Which columns a table shows at the width it gets: low-priority columns go first, essential ones never do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, chop_cells

PADDING = 2
"""A DataTable cell has one cell of padding on each side."""
SCROLLBAR_ROOM = 2
"""Kept free for the vertical scrollbar, so a long table does not push the last column off screen."""
WIDE_KEY = "W"
"""Toggles the wide view (every column, scrolled sideways) in every table; in a text field it is a letter."""


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column: its widest useful width, and how it gives way when the table is narrow."""

    key: str
    label: str
    width: int
    """Cells of content at most (padding not counted)."""
    priority: int = 0
    """0: always shown (status, errors, the serving hop). Higher numbers are dropped first."""
    min_width: int | None = None
    """It may shrink to this many cells (its text then ends in `…`); None: it keeps its width."""
    short: str | None = None
    """A shorter heading, used when the table does not fit."""
    cut_middle: bool = False
    """Cut a too-long text in the middle (model names), not at its end."""
    sortable: bool = True
    """Whether the table's sort key stops at this column (not at a sparkline or a marker)."""


Fit = tuple[tuple[str, int], ...]
"""(column key, width) of the columns shown, in order."""


def fit_columns(specs: Sequence[ColumnSpec], available: int, *, wide: bool = False) -> Fit:
    """The columns to show in `available` cells. Drops the highest priority numbers first (the later column of
    two equal ones), then shares what is left between the shrinkable columns, one cell each in turn, so that no
    column is starved. `wide` shows every column at its full width (the table then scrolls sideways)."""
    if wide or available <= 0:
        return tuple((spec.key, spec.width) for spec in specs)
    budget = available - SCROLLBAR_ROOM
    shown = list(specs)

    def least(spec: ColumnSpec) -> int:
        return (spec.min_width if spec.min_width is not None else spec.width) + PADDING

    droppable = sorted((spec for spec in specs if spec.priority > 0),
                       key=lambda spec: (spec.priority, specs.index(spec)), reverse=True)
    while sum(least(spec) for spec in shown) > budget and droppable:
        shown.remove(droppable.pop(0))
    widths = {spec.key: least(spec) - PADDING for spec in shown}
    spare = budget - sum(least(spec) for spec in shown)
    growing = sorted((spec for spec in shown if widths[spec.key] < spec.width),
                     key=lambda spec: (spec.priority, specs.index(spec)))
    while spare > 0 and growing:
        for spec in list(growing):
            if spare <= 0:
                break
            widths[spec.key] += 1
            spare -= 1
            if widths[spec.key] >= spec.width:
                growing.remove(spec)
    return tuple((spec.key, widths[spec.key]) for spec in shown)


def is_cut(fit: Fit, specs: Sequence[ColumnSpec]) -> bool:
    """Whether the fit left columns out or shortened any (the short headings are used then)."""
    full = {spec.key: spec.width for spec in specs}
    return len(fit) < len(specs) or any(width < full[key] for key, width in fit)


def middle_cut(text: str, width: int) -> str:
    """`text` in at most `width` cells, cut in the middle: model names differ at their ends (`…-4-5-20250929`
    against `…-4-20250514`), so the head and the tail both stay."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail_cells = (width - 1) // 2
    head_cells = width - 1 - tail_cells
    head = chop_cells(text, head_cells)[0] if head_cells else ""
    tail = ""
    for char in reversed(text):
        if cell_len(char + tail) > tail_cells:
            break
        tail = char + tail
    return f"{head}…{tail}"
