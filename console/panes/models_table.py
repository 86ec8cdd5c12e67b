"""The catalog table: one immutable row per model, filtered and sorted, updated in place per provider."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from console.widgets.column_fit import WIDE_KEY, middle_cut
from console.widgets.keyed_table import plain
from console.widgets.row_filter import RowFilter
from providers.deck import CatalogEntry

COLUMNS: tuple[tuple[str, str], ...] = (
    ("provider", "Provider"), ("model", "Model"), ("kind", "Kind"), ("size", "Size"), ("quant", "Quant"),
    ("context", "Context"), ("loaded", "Loaded"), ("price", "$/Mtok in/out"),
)
NARROW_LABELS = {"context": "Ctx", "loaded": "Ld", "price": "$/M in/out"}
"""Shorter headings when the table does not fit its width (80 columns over SSH)."""
DROP_ORDER = ("quant", "kind", "size", "context")
"""Columns left out, in this order, while the model column has less than MODEL_GOAL cells; provider, model,
loaded and price stay."""
MIN_MODEL_WIDTH = 12
"""A model name is cut in the middle (`claude-s…0250929`), never below this many cells; `d` shows it whole."""
MODEL_GOAL = 30
"""Cells the model column gets, when the name needs them, before other columns are kept."""
SCROLLBAR_ROOM = 2
MODEL_COLUMN = 1


def human_bytes(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}T"


def human_context(tokens: int | None) -> str:
    if tokens is None:
        return "—"
    if tokens < 1000:
        return str(tokens)
    # 131072 is "128k" to anyone who configured it; 200000 is "200k".
    return f"{tokens // 1024}k" if tokens % 1024 == 0 else f"{round(tokens / 1000)}k"


def human_price(input_usd: float | None, output_usd: float | None) -> str:
    if input_usd is None and output_usd is None:
        return "—"
    if not input_usd and not output_usd:
        return "free"
    return f"{input_usd or 0:.2f}/{output_usd or 0:.2f}"


@dataclass(frozen=True, slots=True)
class ModelRow:
    """What the table shows of one catalog entry."""

    provider: str
    name: str
    kind: str
    size_bytes: int | None
    quantization: str | None
    context_length: int | None
    loaded: bool
    input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None

    @classmethod
    def from_entry(cls, entry: CatalogEntry) -> ModelRow:
        m = entry.model
        return cls(m.provider, m.name, m.kind, m.size_bytes, m.quantization, m.context_length, m.loaded,
                   entry.input_usd_per_mtok, entry.output_usd_per_mtok)

    @property
    def key(self) -> str:
        return f"{self.provider}\x1f{self.name}"

    def cells(self) -> tuple[str, ...]:
        return (self.provider, self.name, self.kind, human_bytes(self.size_bytes), self.quantization or "—",
                human_context(self.context_length), "●" if self.loaded else "",
                human_price(self.input_usd_per_mtok, self.output_usd_per_mtok))

    def display_cells(self, fit: ColumnFit | None = None) -> tuple[str | Text, ...]:
        """The cells as the table draws them, only the columns the fit shows: names a backend chose are plain
        text (never markup); a model name too long for its column is cut in the middle, keeping both ends."""
        fit = fit or ColumnFit()
        cells = list(self.cells())
        if fit.model_width is not None:
            cells[MODEL_COLUMN] = middle_cut(cells[MODEL_COLUMN], fit.model_width)
        return tuple(plain(cell) if index in _PLAIN_COLUMNS else cell for index, cell in enumerate(cells)
                     if COLUMNS[index][0] not in fit.hidden)

    def matches(self, needle: str) -> bool:
        haystack = f"{self.provider} {self.name} {self.kind} {self.quantization or ''}".lower()
        return needle in haystack


_PLAIN_COLUMNS = frozenset({0, MODEL_COLUMN, 4})
"""Provider, model and quantization: text from config or a backend, which may hold `[` or escape bytes and must be
neither markup nor raw terminal output (the kind is llmdeck's own word)."""


@dataclass(frozen=True, slots=True)
class ColumnFit:
    """How the columns share the table's width: natural widths, or short headings, fewer columns and a capped
    model column."""

    narrow: bool = False
    model_width: int | None = None
    hidden: frozenset[str] = frozenset()

    @classmethod
    def for_width(cls, width: int, rows: Iterable[ModelRow]) -> ColumnFit:
        cells = [row.cells() for row in rows]

        def widest(index: int, label: str) -> int:
            return max([cell_len(label), *(cell_len(row[index]) for row in cells)]) + 2  # one cell of padding a side

        longest_model = widest(MODEL_COLUMN, COLUMNS[MODEL_COLUMN][1])
        natural = sum(widest(index, label) for index, (_, label) in enumerate(COLUMNS)) + SCROLLBAR_ROOM
        if width <= 0 or natural <= width:
            return cls()
        narrow_widths = {key: widest(index, NARROW_LABELS.get(key, label))
                         for index, (key, label) in enumerate(COLUMNS) if index != MODEL_COLUMN}
        goal = min(longest_model, MODEL_GOAL + 2)
        hidden: set[str] = set()
        for key in DROP_ORDER:
            if width - SCROLLBAR_ROOM - sum(narrow_widths.values()) >= goal:
                break
            del narrow_widths[key]
            hidden.add(key)
        room = width - sum(narrow_widths.values()) - SCROLLBAR_ROOM - 2
        return cls(narrow=True, model_width=None if room + 2 >= longest_model else max(MIN_MODEL_WIDTH, room),
                   hidden=frozenset(hidden))

    def cuts(self, name: str) -> bool:
        """Whether the model column is too narrow for `name` (it is then cut in the middle with `…`)."""
        return self.model_width is not None and cell_len(name) > self.model_width

    def label(self, key: str, label: str) -> str:
        return NARROW_LABELS.get(key, label) if self.narrow else label

    def columns(self) -> list[tuple[str, str]]:
        """The (key, heading) of the columns shown."""
        return [(key, self.label(key, label)) for key, label in COLUMNS if key not in self.hidden]


def _none_last(value: float | None) -> tuple[bool, float]:
    return (value is None, value or 0.0)


SORTS: tuple[tuple[str, Callable[[ModelRow], object]], ...] = (
    ("provider", lambda r: (r.provider, r.name)),
    ("model", lambda r: (r.name.lower(), r.provider)),
    ("size", lambda r: (_none_last(-(r.size_bytes or 0) if r.size_bytes else None), r.name)),
    ("context", lambda r: (_none_last(-(r.context_length or 0) if r.context_length else None), r.name)),
    ("loaded", lambda r: (not r.loaded, r.provider, r.name)),
    ("price", lambda r: (_none_last(r.output_usd_per_mtok), r.provider, r.name)),
)
"""Sort orders the sort key cycles through (biggest first for size and context, cheapest first for price)."""


class ModelTable(DataTable[str | Text]):
    """Rows keyed by provider + name; a provider's rows are replaced in place, never the whole table. `W`
    switches to the wide view (every column, whole names, scrolled sideways) and back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(WIDE_KEY, "toggle_wide", "Wide view", id="table-wide"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.wide = False
        self.rows_by_key: dict[str, ModelRow] = {}
        """Every known row, shown or filtered out."""
        self.row_filter = RowFilter()
        self.sort_index = 0
        self.fit = ColumnFit()

    def on_mount(self) -> None:
        self._add_columns()

    def on_resize(self) -> None:
        self.refit()

    def _add_columns(self) -> None:
        for key, label in self.fit.columns():
            width = self.fit.model_width if key == "model" else None
            self.add_column(label, key=key, width=width)

    def action_toggle_wide(self) -> None:
        self.wide = not self.wide
        self.refit()

    def refit(self) -> None:
        """Share the width again; the table is rebuilt only when the fit changes (a resize, a much longer name)."""
        fit = ColumnFit() if self.wide else ColumnFit.for_width(self.size.width, self.rows_by_key.values())
        if fit == self.fit:
            return
        keep = self.selected
        self.fit = fit
        self.clear(columns=True)
        self._add_columns()
        for row in list(self.rows_by_key.values()):
            self._put(row)
        self.resort(keep)

    @property
    def sort_name(self) -> str:
        return SORTS[self.sort_index][0]

    @property
    def selected(self) -> ModelRow | None:
        if not self.row_count:
            return None
        row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return self.rows_by_key.get(str(row_key.value))

    def shown(self) -> list[ModelRow]:
        """The rows on screen, in their order."""
        return [self.rows_by_key[str(row.key.value)] for row in self.ordered_rows]

    def replace_provider(self, provider: str, rows: Iterable[ModelRow]) -> None:
        """Make `provider`'s rows equal `rows`: remove, update changed cells, add; then re-sort."""
        new = {row.key: row for row in rows}
        old = {key: row for key, row in self.rows_by_key.items() if row.provider == provider}
        for key in old.keys() - new.keys():
            self.forget(key)
        added = False
        for row in new.values():
            added |= self._put(row)
        if added:
            self.resort()
        self.refit()

    def forget(self, key: str) -> None:
        self.rows_by_key.pop(key, None)
        if key in self.rows:
            self.remove_row(key)

    def _put(self, row: ModelRow) -> bool:
        """Show or update one row in place; True when a row was added (the order needs a sort)."""
        previous = self.rows_by_key.get(row.key)
        self.rows_by_key[row.key] = row
        visible = row.key in self.rows
        if not self.row_filter.keeps(row):
            if visible:
                self.remove_row(row.key)
            return False
        if not visible:
            self.add_row(*row.display_cells(self.fit), key=row.key)
            return True
        if previous != row:
            old_cells = previous.display_cells(self.fit) if previous else ()
            shown = self.fit.columns()
            for (column, _), old_cell, new_cell in zip(shown, old_cells, row.display_cells(self.fit), strict=False):
                if old_cell != new_cell:
                    self.update_cell(row.key, column, new_cell)
        return False

    def set_filter(self, row_filter: RowFilter) -> None:
        """A new filter: show exactly the rows that pass it, keeping the cursor on the same model if shown."""
        self.row_filter = row_filter
        keep = self.selected
        for row in list(self.rows_by_key.values()):
            self._put(row)
        self.resort(keep)

    def cycle_sort(self) -> str:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.resort()
        return self.sort_name

    def resort(self, keep: ModelRow | None = None) -> None:
        keep = keep or self.selected
        order = SORTS[self.sort_index][1]
        # The cells hold the names as drawn (a long one cut in the middle): find each row by what it shows.
        by_cells: dict[tuple[str, str], ModelRow] = {}
        for row in self.rows_by_key.values():
            shown = row.display_cells(self.fit)
            by_cells.setdefault((str(shown[0]), str(shown[MODEL_COLUMN])), row)
        self.sort("provider", "model", key=lambda cells: order(by_cells[(str(cells[0]), str(cells[1]))]))
        if keep is not None and keep.key in self.rows:
            self.move_cursor(row=self.get_row_index(keep.key))
