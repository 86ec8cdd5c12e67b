"""The real `llmdeck` console in a pseudo-terminal for the hostile-text tests: every byte it writes is kept (to look
for escape sequences a backend smuggled in) and its screen is read with a terminal emulator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.terminal.harness import RealTerminal, real_terminal

PtyConsole = RealTerminal


@contextmanager
def pty_console(args: Sequence[str], home: Path, *, columns: int = 120, lines: int = 32) -> Iterator[PtyConsole]:
    """`llmdeck ARGS` with HOME, XDG dirs and the data dir under `home`, in a `columns`×`lines` terminal."""
    with real_terminal(args, home, columns=columns, lines=lines) as terminal:
        yield terminal
