"""How the headless commands print: tables for a person at a terminal, lines for a script at a pipe, JSON on ask.

At a terminal a table is a Rich table fitted to the window (long cells are wrapped or cut). Anywhere else stdout
is read by a program (`cut`, `awk`, `grep`, a file), so each row is one line of tab-separated cells, nothing cut:
a name may hold spaces but never a tab (every cell is made one terminal-safe line), so `cut -f2` and
`awk -F'\\t'` find the columns whatever the values are. The first line names the columns, as `ps` and `kubectl` do.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from providers.safe_text import one_line
from providers.sessions import write_text

Heading = str | Column
"""A column's name, or a Rich Column when the terminal table needs more (a width limit, say)."""


def stdout_is_terminal() -> bool:
    """Whether a person reads stdout (a TTY) rather than a program."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def cell_text(value: object) -> str:
    """A backend or config value as one terminal-safe line; None is empty."""
    return one_line("" if value is None else str(value))


def print_table(headings: Sequence[Heading], rows: Iterable[Sequence[object]]) -> None:
    """A Rich table at a terminal, tab-separated lines elsewhere. Cells are text, never read as Rich markup."""
    names = [heading.header if isinstance(heading, Column) else heading for heading in headings]
    if not stdout_is_terminal():
        lines = ["\t".join(cell_text(name) for name in names)]
        lines += ["\t".join(cell_text(value) for value in row) for row in rows]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    table = Table(*headings, box=None)
    for row in rows:
        table.add_row(*(Text(cell_text(value)) for value in row))
    Console().print(table)


def print_json(document: object) -> None:
    """Exactly one JSON document. ASCII only: every control character of a backend's text is escaped."""
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def print_json_line(document: object) -> None:
    """One JSON object on one line, flushed at once: a reader acts on each event as it happens."""
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def write_document(text: str, out: str | None) -> str | None:
    """`text` to the file `out` (replaced whole, its directory created; `wrote FILE` on stderr) or to stdout.
    None when done, else why the file could not be written, as one line."""
    if not out:
        sys.stdout.write(text)
        return None
    try:
        write_text(Path(out), text)
    except OSError as exc:
        return f"cannot write {out}: {exc.strerror or exc}"
    sys.stderr.write(f"wrote {one_line(out)}\n")
    return None
