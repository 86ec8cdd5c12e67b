"""How a table's rows are ordered by one column: values, not the text drawn (a latency as a number), a row without
a value last whichever way, and rows under a section heading (Health's host lines) kept under it."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, chop_cells
from rich.text import Text

SortValue = str | float | tuple[float, ...] | None
"""What a cell sorts by. None (no value: `—`, an empty cell) always sorts last. Numbers sort before tuples and
tuples before text, so a column that mixes them cannot fail to compare."""

ASCENDING, DESCENDING = "▲", "▼"
NO_VALUE_TEXTS = frozenset({"", "—", "-"})
"""Cells that say "nothing here": sorted last, whichever the direction."""


@dataclass(frozen=True, slots=True)
class SortChoice:
    """The column rows are ordered by (None: the order the pane gives them in) and its direction."""

    column: str | None = None
    descending: bool = False

    @property
    def arrow(self) -> str:
        return DESCENDING if self.descending else ASCENDING


def text_value(cell: str | Text) -> SortValue:
    """The value of a cell whose text is the value (names, kinds): compared without case; `—` is no value."""
    text = (cell.plain if isinstance(cell, Text) else cell).strip()
    return None if text in NO_VALUE_TEXTS else text.casefold()


def _comparable(value: SortValue) -> tuple[bool, bool, SortValue]:
    return isinstance(value, str), isinstance(value, tuple), value


def sorted_keys(natural: Sequence[str], values: Mapping[str, SortValue], descending: bool) -> list[str]:
    """`natural` ordered by each key's value. A key with no entry in `values` heads a section: it stays in place
    and the rows after it (up to the next heading) are sorted among themselves. Ties keep their natural order;
    rows with no value (None) come last in their section, in their natural order."""
    ordered: list[str] = []
    section: list[str] = []

    def close_section() -> None:
        present = [key for key in section if values[key] is not None]
        present.sort(key=lambda key: _comparable(values[key]), reverse=descending)
        ordered.extend(present)
        ordered.extend(key for key in section if values[key] is None)
        section.clear()

    for key in natural:
        if key in values:
            section.append(key)
        else:
            close_section()
            ordered.append(key)
    close_section()
    return ordered


def heading(label: str, width: int | None, arrow: str) -> str:
    """A sorted column's heading: `Latency ▲`, or the label shortened so the arrow shows in `width` cells."""
    marked = f"{label} {arrow}"
    if width is None or cell_len(marked) <= width:
        return marked
    return chop_cells(label, max(0, width - 1))[0] + arrow


_remembered: weakref.WeakKeyDictionary[object, dict[str, SortChoice]] = weakref.WeakKeyDictionary()
"""The sort of each table (by its id) for as long as its app runs: a dialog's table (the chat sessions) is built
anew each time it opens and finds its sort again."""


def remembered(app: object, table_id: str) -> SortChoice | None:
    return _remembered.get(app, {}).get(table_id)


def remember(app: object, table_id: str, choice: SortChoice) -> None:
    _remembered.setdefault(app, {})[table_id] = choice
