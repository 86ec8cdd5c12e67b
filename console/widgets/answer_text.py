"""AnswerText: the body of a chat answer in one widget. While the answer streams it is plain text and a batch
re-wraps only the line it ends on; once the answer is done it is drawn as Markdown. Rows go through Textual's
line API, so a frame renders only the rows on screen, however long the answer.

While it streams fast, the widget claims the blank rows its text will fill in the next `CLAIM_AHEAD_S` and repaints
only the rows a batch changed: a new row then fills a claimed blank one instead of growing the widget, so the
screen is laid out and the transcript scrolled a few times a second rather than on every row (at 1,500 tokens/s a
row is new on most frames, and a scroll repaints, and sends over SSH, the whole transcript). A slow stream claims
nothing ahead and scrolls row by row as before."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

CLAIM_AHEAD_S = 0.2
"""Rows are claimed for this much of the stream at its current pace: at most ~5 layouts a second."""


class AnswerText(Widget):
    """Text appended with `append()` (plain, never read as markup), switched to Markdown by `show_markdown()`.
    The text must already be terminal-safe: the AnswerBlock cleans it."""

    DEFAULT_CSS = """
    AnswerText {
        width: 1fr;
        height: auto;
    }
    """

    def __init__(self, text: str = "", *, markdown: bool = False, classes: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(classes=classes)
        self._clock = clock
        self._height = 0
        """Rows the widget claims: the text's rows, plus blank ones while it streams fast."""
        self._claimed_at: float | None = None
        self._claimed_rows = 0
        self.claims = 0
        """How many times a batch outgrew the rows claimed (each costs a layout and a scroll)."""
        self._chunks: list[str] = [text] if text else []
        self._lines: list[str] = []
        """The complete lines (each ended by a newline) of the plain text."""
        self._tail = ""
        """The line still being written."""
        self._markdown = markdown
        self._width = -1
        # Rows are kept as Rich segments and made Strips only when drawn: a Strip carries five caches of its own,
        # and a long answer's thousands of rows would otherwise be that many more objects for every full garbage
        # collection to walk (pauses of ~0.1 s at 15,000 tokens, each one a frame and a keystroke late).
        self._rows: list[list[Segment]] = []
        """Rows of the complete lines at `_width` (plain), or of the whole Markdown."""
        self._tail_rows: list[list[Segment]] = []
        self._split(text)

    @property
    def source(self) -> str:
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def is_markdown(self) -> bool:
        return self._markdown

    @property
    def row_count(self) -> int:
        """Rows at the width last laid out (what the transcript scrolls through)."""
        return len(self._rows) + len(self._tail_rows)

    def append(self, text: str) -> None:
        """Add streamed text; only the new complete lines and the unfinished one are wrapped again."""
        if not text:
            return
        self._chunks.append(text)
        if self._markdown:
            self._width = -1  # appended after the end (not done by the Chat pane): draw it all again
            self.refresh(layout=True)
            return
        start = len(self._lines)
        first_changed = len(self._rows)  # the unfinished line's first row: everything from there may change
        self._split(text)
        if self._width <= 0:
            self.refresh(layout=True)
            return
        for line in self._lines[start:]:
            self._rows.extend(self._wrap(Text(line)))
        self._tail_rows = self._wrap(Text(self._tail)) if self._tail else []
        if self.row_count > self._height:
            self._claim_rows()
            self.refresh(layout=True)
        else:  # within the rows claimed: repaint the changed rows only, no layout, no scroll
            self.refresh(Region(0, first_changed, self.content_size.width, self.row_count - first_changed))

    def _claim_rows(self) -> None:
        """Claim the rows of the text plus those it will fill in CLAIM_AHEAD_S at the pace since the last claim,
        at most half a screen (more blank rows than that would read as a gap)."""
        now, rows = self._clock(), self.row_count
        ahead = 0
        if self._claimed_at is not None:
            pace = (rows - self._claimed_rows) / max(now - self._claimed_at, 1e-3)
            ahead = min(int(pace * CLAIM_AHEAD_S), max(1, self.app.size.height // 2))
        self._height = rows + ahead
        self._claimed_at, self._claimed_rows = now, rows
        self.claims += 1

    def show_markdown(self) -> None:
        """The answer is complete (or ended): draw it as Markdown from now on."""
        if self._markdown:
            return
        self._markdown = True
        self._lines, self._tail = [], ""
        self._width = -1
        self._height = 0
        self.refresh(layout=True)

    def _split(self, text: str) -> None:
        if self._markdown:
            return
        pieces = (self._tail + text).split("\n")
        self._lines.extend(pieces[:-1])
        self._tail = pieces[-1]

    def _render_console(self) -> Console:
        return self.app.console

    def _wrap(self, renderable: RenderableType) -> list[list[Segment]]:
        console = self._render_console()
        options = console.options.update(width=self._width, height=None, highlight=False)
        return console.render_lines(renderable, options, pad=False, new_lines=False)

    def _layout(self, width: int) -> None:
        width = max(1, width)
        if width == self._width:
            return
        self._width = width
        if self._markdown:
            # Links are shown as text: a URL from a model never becomes a terminal hyperlink.
            self._rows = self._wrap(Markdown(self.source, hyperlinks=False)) if self.source else []
            self._tail_rows = []
            self._height = self.row_count
        else:
            ahead = max(0, self._height - self.row_count)  # a new width keeps the blank rows claimed
            self._rows = [row for line in self._lines for row in self._wrap(Text(line))]
            self._tail_rows = self._wrap(Text(self._tail)) if self._tail else []
            self._height = self.row_count + ahead

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._layout(width)
        return self._height

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        self._layout(width)
        rows = self._rows
        if y < len(rows):
            segments = rows[y]
        elif y - len(rows) < len(self._tail_rows):
            segments = self._tail_rows[y - len(rows)]
        else:
            return Strip.blank(width, self.rich_style)
        return Strip(segments).apply_style(self.rich_style)

