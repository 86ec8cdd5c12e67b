"""A DataTable fed whole snapshots of keyed rows: unchanged rows cost nothing, changed cells update in place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from console.widgets.column_fit import WIDE_KEY, ColumnSpec, Fit, fit_columns, is_cut, middle_cut
from providers.safe_text import one_line

Cell = str | Text
Row = tuple[str, tuple[Cell, ...]]


def plain(text: str) -> Text:
    """A cell for text from a config or a backend: never read as markup (a `[` is just a bracket), one
    terminal-safe line (no escape sequence reaches the screen), and cut with `…` when the column is narrower."""
    return Text(one_line(text), no_wrap=True, overflow="ellipsis")


class KeyedTable(DataTable[Cell]):
    """`show(rows)` diffs against what is on screen. Only a change in the set or order of keys rebuilds the
    table (a filter, a provider added); then the cursor stays on the same key when it is still there.

    Rows carry a cell for every column; the table shows the columns that fit its width (`fit_columns`), and
    `W` switches to the wide view (every column, scrolled sideways) and back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(WIDE_KEY, "toggle_wide", "Wide view", id="table-wide"),
    ]

    def __init__(self, columns: Sequence[ColumnSpec], **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._column_specs = list(columns)
        self._full: dict[str, tuple[Cell, ...]] = {}
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self.wide = False
        self.fit: Fit = ()
        self.rebuilds = 0
        self.cell_updates = 0
        self._set_columns(fit_columns(self._column_specs, 0, wide=True))

    def _set_columns(self, fit: Fit) -> None:
        self.fit = fit
        cut = is_cut(fit, self._column_specs)
        specs = {spec.key: spec for spec in self._column_specs}
        for key, width in fit:
            spec = specs[key]
            self.add_column((spec.short or spec.label) if cut else spec.label, key=key, width=width)

    @property
    def shown_columns(self) -> list[str]:
        return [key for key, _ in self.fit]

    def cells(self, key: str) -> tuple[Cell, ...]:
        """Every cell of a row, shown or not, in the order of the column specs."""
        return self._full[key]

    def _project(self, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        shown: list[Cell] = []
        for key, width in self.fit:
            number, spec = next((n, spec) for n, spec in enumerate(self._column_specs) if spec.key == key)
            cell = cells[number]
            if spec.cut_middle and isinstance(cell, Text) and cell.cell_len > width:
                cell = Text(middle_cut(cell.plain, width), style=cell.style, no_wrap=True, overflow="ellipsis")
            shown.append(cell)
        return tuple(shown)

    def on_resize(self) -> None:
        self.refit()

    def action_toggle_wide(self) -> None:
        self.wide = not self.wide
        self.refit()

    def refit(self) -> None:
        """Choose the columns again for the current width; the table is rebuilt only when the choice changes."""
        fit = fit_columns(self._column_specs, self.size.width, wide=self.wide)
        if fit == self.fit:
            return
        keep = self.cursor_key()
        self.clear(columns=True)
        self._set_columns(fit)
        rows = [(key, self._project(self._full[key])) for key in self._order]
        self._order = []
        self._rebuild(rows)
        if keep in self._shown:
            self.move_cursor(row=self._order.index(keep), animate=False)

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    def cursor_key(self) -> str | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def show(self, rows: Sequence[Row]) -> None:
        self._full = dict(rows)
        rows = [(key, self._project(cells)) for key, cells in rows]
        order = [key for key, _ in rows]
        if order != self._order:
            self._rebuild(rows)
            return
        column_keys = self.shown_columns
        for key, cells in rows:
            before = self._shown.get(key)
            if before == cells:
                continue
            for index, cell in enumerate(cells):
                if before is None or before[index] != cell:
                    self.update_cell(key, column_keys[index], cell)
                    self.cell_updates += 1
            self._shown[key] = cells

    def _rebuild(self, rows: Sequence[Row]) -> None:
        keep = self.cursor_key()
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._order = [key for key, _ in rows]
        self._shown = dict(rows)
        self.rebuilds += 1
        if keep in self._shown:
            self.move_cursor(row=self._order.index(keep), animate=False)
