"""A DataTable fed whole snapshots of keyed rows: unchanged rows cost nothing, changed cells update in place. Every
table of the console is one (or, for the pull queue, its movement keys): the same vim keys, sort keys and wide
view everywhere."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from console.widgets.column_fit import WIDE_KEY, ColumnSpec, Fit, fit_columns, is_cut, middle_cut
from console.widgets.table_sort import SortChoice, SortValue, heading, remember, remembered, sorted_keys, text_value
from providers.safe_text import one_line

Cell = str | Text
Row = tuple[str, tuple[Cell, ...]]
SORT_KEY, REVERSE_SORT_KEY = "o", "O"
"""`o` (order) moves the sort to the next column, then back to the pane's own order; `O` reverses it."""

TABLE_MOVEMENT: list[BindingType] = [
    Binding("j", "cursor_down", "Down", id="table-down", show=False),
    Binding("k", "cursor_up", "Up", id="table-up", show=False),
    Binding("g", "scroll_top", "First row", id="table-top", show=False),
    Binding("G", "scroll_bottom", "Last row", id="table-bottom", show=False),
    # Ctrl-F/Ctrl-B, not vim's Ctrl-D/Ctrl-U: Ctrl-D deletes in the Models pane, so pages move the same way in
    # every table.
    Binding("ctrl+f", "page_down", "Page down", id="table-page-down", show=False),
    Binding("ctrl+b", "page_up", "Page up", id="table-page-up", show=False),
]
"""Beside the arrows, Home/End and PageUp/PageDown (Textual's own), as k9s and lazygit move."""


def plain(text: str) -> Text:
    """A cell for text from a config or a backend: never read as markup (a `[` is just a bracket), one
    terminal-safe line (no escape sequence reaches the screen), and cut with `…` when the column is narrower."""
    return Text(one_line(text), no_wrap=True, overflow="ellipsis")


class NavigableTable(DataTable[Cell]):
    """Textual's table with the vim movement keys."""

    BINDINGS: ClassVar[list[BindingType]] = TABLE_MOVEMENT


class KeyedTable(NavigableTable):
    """`show(rows, values)` diffs against what is on screen. Only a change in the set or order of keys rebuilds the
    table (a filter, a provider added, another sort); then the cursor stays on the same key when it is still there.

    Rows carry a cell for every column; the table shows the columns that fit its width (`choose_fit`), and `W`
    switches to the wide view (every column, scrolled sideways) and back. `o` orders the rows by the next shown
    column (then by the pane's own order again), `O` reverses; the heading of the sort column shows ▲ or ▼. The
    choice lasts as long as the app (a table with an id finds it again when it is built anew)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(SORT_KEY, "cycle_sort", "Sort", id="table-sort"),
        Binding(REVERSE_SORT_KEY, "reverse_sort", "Reverse sort", id="table-sort-reverse", show=False),
        Binding(WIDE_KEY, "toggle_wide", "Wide view", id="table-wide"),
    ]

    class SortChanged(Message):
        """The rows are ordered by another column or direction (a pane that draws cells by the order listens)."""

        def __init__(self, table: KeyedTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, columns: Sequence[ColumnSpec], **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._column_specs = list(columns)
        self._spec_index = {spec.key: number for number, spec in enumerate(self._column_specs)}
        self._full: dict[str, tuple[Cell, ...]] = {}
        self._natural: list[str] = []
        """The keys in the order the pane gave them."""
        self._values: dict[str, tuple[SortValue, ...]] | None = None
        """What each row sorts by, column by column (None: the cells' text)."""
        self._shown: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self.wide = False
        self.fit: Fit = ()
        self._cut_headings = False
        self.sort_choice = SortChoice()
        self.rebuilds = 0
        self.cell_updates = 0
        self._set_columns(self.choose_fit(0))

    # --- columns ------------------------------------------------------------------------------------

    def choose_fit(self, width: int) -> Fit:
        """The columns to show, and their widths, in `width` cells (0: every column at its full width)."""
        return fit_columns(self._column_specs, width, wide=self.wide)

    def headings_cut(self) -> bool:
        """Whether the short headings are used (the fit left columns out or narrowed them)."""
        return is_cut(self.fit, self._column_specs)

    def _set_columns(self, fit: Fit) -> None:
        self.fit = fit
        self._cut_headings = self.headings_cut()
        choice = self.sort_choice
        for key, width in fit:
            spec = self._column_specs[self._spec_index[key]]
            label = (spec.short or spec.label) if self._cut_headings else spec.label
            if key == choice.column:
                label = heading(label, width, choice.arrow)
            self.add_column(Text(label), key=key, width=width)

    @property
    def shown_columns(self) -> list[str]:
        return [key for key, _ in self.fit]

    def cells(self, key: str) -> tuple[Cell, ...]:
        """Every cell of a row, shown or not, in the order of the column specs."""
        return self._full[key]

    def _project(self, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        shown: list[Cell] = []
        for key, width in self.fit:
            spec = self._column_specs[self._spec_index[key]]
            cell = cells[self._spec_index[key]]
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
        fit = self.choose_fit(self.size.width)
        if fit == self.fit and self.headings_cut() == self._cut_headings:
            return
        self._rebuild_all(fit)

    def _rebuild_all(self, fit: Fit) -> None:
        """Columns and rows again (another fit, another sort heading), the cursor kept on its key."""
        keep = self.cursor_key()
        self.clear(columns=True)
        self._set_columns(fit)
        self._order = []
        self._present()
        if keep in self._shown:
            self.move_cursor(row=self._order.index(keep), animate=False)

    # --- rows ---------------------------------------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        return list(self._order)

    def cursor_key(self) -> str | None:
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def show(self, rows: Sequence[Row], values: Mapping[str, Sequence[SortValue]] | None = None) -> None:
        """Make the table show `rows` (in this order, unless sorted by a column). `values`: what each row sorts by,
        one value per column (a latency as a number, None for no value); a row without an entry heads a section
        (a host line) and keeps its place, the rows under it sorted among themselves. Without `values` the rows
        sort by their cells' text."""
        self._full = dict(rows)
        self._natural = [key for key, _ in rows]
        self._values = {key: tuple(row_values) for key, row_values in values.items()} if values is not None else None
        self._present()

    def _present(self) -> None:
        order = self._sorted()
        rows = [(key, self._project(self._full[key])) for key in order]
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

    # --- sorting ------------------------------------------------------------------------------------

    def _sorted(self) -> list[str]:
        choice = self.sort_choice
        if choice.column is None or choice.column not in self._spec_index:
            return list(self._natural)
        index = self._spec_index[choice.column]
        if self._values is None:
            column = {key: text_value(self._full[key][index]) for key in self._natural}
        else:
            column = {key: row_values[index] for key, row_values in self._values.items()}
        return sorted_keys(self._natural, column, choice.descending)

    @property
    def sortable_columns(self) -> list[str]:
        """The shown columns `o` steps through (a sort by a column off screen would not show)."""
        return [key for key in self.shown_columns if self._column_specs[self._spec_index[key]].sortable]

    @property
    def sort_label(self) -> str:
        """`Latency ▼`, or empty while the rows keep the pane's order."""
        choice = self.sort_choice
        if choice.column is None:
            return ""
        return f"{self._column_specs[self._spec_index[choice.column]].label} {choice.arrow}"

    def action_cycle_sort(self) -> None:
        columns = self.sortable_columns
        current = self.sort_choice.column
        if current in columns:
            following = columns.index(current) + 1
            self.sort_by(SortChoice(columns[following] if following < len(columns) else None))
        elif columns:
            self.sort_by(SortChoice(columns[0]))

    def action_reverse_sort(self) -> None:
        choice = self.sort_choice
        if choice.column is not None:
            self.sort_by(SortChoice(choice.column, not choice.descending))
        elif columns := self.sortable_columns:
            self.sort_by(SortChoice(columns[0], descending=True))  # every sort shows its arrow

    def sort_by(self, choice: SortChoice) -> None:
        """Order the rows by `choice` (kept for the app's lifetime) and say so to the pane."""
        self.sort_choice = choice
        if self.id is not None and self.is_attached:
            remember(self.app, self.id, choice)
        self._rebuild_all(self.fit)
        self.post_message(self.SortChanged(self))

    def on_mount(self) -> None:
        choice = remembered(self.app, self.id) if self.id is not None else None
        if choice is not None and choice != self.sort_choice:
            self.sort_by(choice)
