"""AnswerText: the body of a chat answer in one widget. While the answer streams it is plain text and a batch
re-wraps only the line it ends on; once the answer is done it is drawn as Markdown. Rows go through Textual's
line API, so a frame renders only the rows on screen, however long the answer."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget


class AnswerText(Widget):
    """Text appended with `append()` (plain, never read as markup), switched to Markdown by `show_markdown()`.
    The text must already be terminal-safe: the AnswerBlock cleans it."""

    DEFAULT_CSS = """
    AnswerText {
        width: 1fr;
        height: auto;
    }
    """

    def __init__(self, text: str = "", *, markdown: bool = False, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._chunks: list[str] = [text] if text else []
        self._lines: list[str] = []
        """The complete lines (each ended by a newline) of the plain text."""
        self._tail = ""
        """The line still being written."""
        self._markdown = markdown
        self._width = -1
        self._rows: list[Strip] = []
        """Rows of the complete lines at `_width` (plain), or of the whole Markdown."""
        self._tail_rows: list[Strip] = []
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
        before = self.row_count
        start = len(self._lines)
        self._split(text)
        if self._width > 0:
            for line in self._lines[start:]:
                self._rows.extend(self._wrap(Text(line)))
            self._tail_rows = self._wrap(Text(self._tail)) if self._tail else []
        # A batch that stays within the rows shown needs no new layout of the screen, only a repaint.
        self.refresh(layout=self._width <= 0 or self.row_count != before)

    def show_markdown(self) -> None:
        """The answer is complete (or ended): draw it as Markdown from now on."""
        if self._markdown:
            return
        self._markdown = True
        self._lines, self._tail = [], ""
        self._width = -1
        self.refresh(layout=True)

    def _split(self, text: str) -> None:
        if self._markdown:
            return
        pieces = (self._tail + text).split("\n")
        self._lines.extend(pieces[:-1])
        self._tail = pieces[-1]

    def _render_console(self) -> Console:
        return self.app.console

    def _wrap(self, renderable: RenderableType) -> list[Strip]:
        console = self._render_console()
        options = console.options.update(width=self._width, height=None, highlight=False)
        return [Strip(line) for line in console.render_lines(renderable, options, pad=False, new_lines=False)]

    def _layout(self, width: int) -> None:
        width = max(1, width)
        if width == self._width:
            return
        self._width = width
        if self._markdown:
            # Links are shown as text: a URL from a model never becomes a terminal hyperlink.
            self._rows = self._wrap(Markdown(self.source, hyperlinks=False)) if self.source else []
            self._tail_rows = []
        else:
            self._rows = [row for line in self._lines for row in self._wrap(Text(line))]
            self._tail_rows = self._wrap(Text(self._tail)) if self._tail else []

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._layout(width)
        return self.row_count

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        self._layout(width)
        rows = self._rows
        if y < len(rows):
            strip = rows[y]
        elif y - len(rows) < len(self._tail_rows):
            strip = self._tail_rows[y - len(rows)]
        else:
            return Strip.blank(width, self.rich_style)
        return strip.apply_style(self.rich_style)

