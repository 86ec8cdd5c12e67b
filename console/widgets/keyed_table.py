"""A DataTable fed whole snapshots of keyed rows: unchanged rows cost nothing, changed cells update in place."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from providers.safe_text import one_line

Cell = str | Text
Row = tuple[str, tuple[Cell, ...]]


def plain(text: str) -> Text:
    """A cell for text from a config or a backend: never read as markup (a `[` is just a bracket), one
    terminal-safe line (no escape sequence reaches the screen), and cut with `…` when the column is narrower."""
    return Text(one_line(text), no_wrap=True, overflow="ellipsis")


class KeyedTable(DataTable[Cell]):
    """`show(rows)` diffs against what is on screen. Only a change in the set or order of keys rebuilds the
    table (a filter, a provider added); then the cursor stays on the same key when it is still there."""

    def __init__(self, columns: Sequence[tuple[str, str, int | None]], **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._column_specs = list(columns)
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self.rebuilds = 0
        self.cell_updates = 0
        for key, label, width in self._column_specs:
            self.add_column(label, key=key, width=width)

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    def cursor_key(self) -> str | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def show(self, rows: Sequence[Row]) -> None:
        order = [key for key, _ in rows]
        if order != self._order:
            self._rebuild(rows)
            return
        column_keys = [key for key, _, _ in self._column_specs]
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
