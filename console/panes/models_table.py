"""The catalog table: one immutable row per model, filtered and sorted, updated in place per provider."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text

from console.widgets.column_fit import ColumnSpec, Fit, middle_cut
from console.widgets.keyed_table import KeyedTable, plain
from console.widgets.row_filter import RowFilter
from console.widgets.table_sort import SortValue
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

    def table_cells(self) -> tuple[str | Text, ...]:
        """Every cell for the table (it cuts a long model name in the middle to the width the fit gives)."""
        return tuple(plain(cell) if index in _PLAIN_COLUMNS else cell for index, cell in enumerate(self.cells()))

    def sort_values(self) -> tuple[SortValue, ...]:
        """What each column sorts by: sizes and prices as numbers, a model not loaded with the empty cells."""
        prices = (self.input_usd_per_mtok, self.output_usd_per_mtok)
        return (self.provider.casefold(), self.name.casefold(), self.kind, self.size_bytes,
                self.quantization.casefold() if self.quantization else None, self.context_length,
                1 if self.loaded else None,
                None if prices == (None, None) else tuple(price or 0.0 for price in prices))

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

    def widths(self, rows: Iterable[ModelRow]) -> Fit:
        """The columns shown and their widths: as wide as heading and content, the model column capped."""
        cells = [row.cells() for row in rows]
        fit: list[tuple[str, int]] = []
        for index, (key, label) in enumerate(COLUMNS):
            if key in self.hidden:
                continue
            if key == "model" and self.model_width is not None:
                fit.append((key, self.model_width))
                continue
            fit.append((key, max([cell_len(self.label(key, label)), *(cell_len(row[index]) for row in cells)])))
        return tuple(fit)


MODEL_COLUMNS: tuple[ColumnSpec, ...] = tuple(
    ColumnSpec(key, label, 0, short=NARROW_LABELS.get(key), cut_middle=key == "model") for key, label in COLUMNS)
"""The table's columns; their widths come from ColumnFit (the content), not from these specs."""


def natural_order(row: ModelRow) -> tuple[str, str]:
    return row.provider, row.name


class ModelTable(KeyedTable):
    """Rows keyed by provider + name; a provider's rows are replaced without touching the others' (the table
    diffs). Columns are as wide as their content until the width runs out (`ColumnFit`); `W` switches to the wide
    view (every column, whole names, scrolled sideways) and back. Listed by provider and name until `o` sorts."""

    def __init__(self, *, id: str | None = None) -> None:
        self.rows_by_key: dict[str, ModelRow] = {}
        """Every known row, shown or filtered out."""
        self.row_filter = RowFilter()
        self.context: frozenset[str] | None = None
        """The providers of the chosen host (`:host`); None: every provider."""
        self.column_fit = ColumnFit()
        super().__init__(MODEL_COLUMNS, id=id, zebra_stripes=True)

    def choose_fit(self, width: int) -> Fit:
        rows = self.rows_by_key.values()
        self.column_fit = ColumnFit() if self.wide else ColumnFit.for_width(width, rows)
        return self.column_fit.widths(rows)

    def headings_cut(self) -> bool:
        return self.column_fit.narrow

    @property
    def selected(self) -> ModelRow | None:
        key = self.cursor_key()
        return self.rows_by_key.get(key) if key is not None else None

    def shown(self) -> list[ModelRow]:
        """The rows on screen, in their order."""
        return [self.rows_by_key[key] for key in self.keys]

    def replace_provider(self, provider: str, rows: Iterable[ModelRow]) -> None:
        """Make `provider`'s rows equal `rows`; only the cells that changed are drawn again."""
        self.replace_providers({provider: rows})

    def replace_providers(self, catalogs: Mapping[str, Iterable[ModelRow]]) -> None:
        """Make each provider's rows equal its catalog, drawn once (a whole catalog arrives at the start: the
        cursor then starts on the first row, not on whichever model came first)."""
        for key in [key for key, row in self.rows_by_key.items() if row.provider in catalogs]:
            del self.rows_by_key[key]
        for rows in catalogs.values():
            self.rows_by_key.update((row.key, row) for row in rows)
        self.refit()  # a longer name may widen the model column
        self._draw()

    def forget(self, key: str) -> None:
        self.rows_by_key.pop(key, None)
        self._draw()

    def set_filter(self, row_filter: RowFilter) -> None:
        """A new filter: show exactly the rows that pass it, keeping the cursor on the same model if shown."""
        self.row_filter = row_filter
        self._draw()

    def set_context(self, providers: frozenset[str] | None) -> None:
        """Show only these providers' models (a host was chosen), or every provider's (None)."""
        self.context = providers
        self._draw()

    def in_context(self) -> list[ModelRow]:
        """The known rows of the chosen host's providers, filtered out or not."""
        context = self.context
        return [row for row in self.rows_by_key.values() if context is None or row.provider in context]

    def _draw(self) -> None:
        rows = sorted((row for row in self.in_context() if self.row_filter.keeps(row)), key=natural_order)
        self.show([(row.key, row.table_cells()) for row in rows], {row.key: row.sort_values() for row in rows})


