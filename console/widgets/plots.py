"""Plotext plots for the Graphs pane: lines over a time window, and labelled horizontal bars, each drawn inside
its own box at the size it is given, with axes labelled in short numbers or money."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from console.panes.graphs_view import Line, range_label
from console.widgets.axis_labels import nice_ticks, tick_labels

MARKER = "braille"
"""Braille dots: the finest lines a terminal cell can draw, and plain text over SSH."""

RGB = tuple[int, int, int]
LINE_COLOR: RGB = (86, 180, 233)
"""A series without a colour of its own (the spend line); sky blue reads on dark and light themes."""
BAR_COLOR: RGB = (86, 180, 233)
MIN_WIDTH, MIN_HEIGHT = 12, 5
"""Below this a plot is only its title: plotext cannot fit axes, and a squashed plot misleads."""
BAR_LABEL_WIDTH = 14
"""Bar labels (providers, error classes) longer than this are cut with `…`, so the bars keep their room."""


def fit(drawn: Text, width: int, height: int) -> Text:
    """At most `height` lines of at most `width` cells: plotext's output never spills into the next panel, and
    Textual never wraps a long line onto the next row."""
    lines = drawn.split("\n", allow_blank=True)[:height]
    for line in lines:
        line.truncate(width, overflow="crop")
    fitted = Text("\n").join(lines)
    fitted.no_wrap = True
    fitted.overflow = "crop"
    return fitted


def _tick_count(cells: int, cells_per_tick: int) -> int:
    return max(2, min(5, cells // cells_per_tick + 1))


class DeckPlot(PlotextPlot):
    """A plotext plot drawn from its stored data at whatever size it has when Textual renders it."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="deck-plot")
        self.title_text = title
        self.empty_note = "no data"
        self.has_data = False

    def draw(self) -> None:
        """Put the stored data into the plotext figure, axes sized for `self.size`."""

    def render(self) -> RenderResult:
        width, height = self.size
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            return fit(Text(self.title_text), width, height)
        plt = self.plt
        plt.clear_figure()
        plt.title(self.title_text if self.has_data else f"{self.title_text} · {self.empty_note}")
        self.draw()
        drawn = super().render()
        return fit(drawn if isinstance(drawn, Text) else Text(str(drawn)), width, height)


class TimePlot(DeckPlot):
    """Lines against "seconds ago", the x axis fixed to the window so plots of one range line up; no legend on
    the data (the pane shows one legend line for all plots, in the same colours)."""

    def __init__(self, title: str, *, id: str | None = None, money: bool = False) -> None:
        super().__init__(title, id=id)
        self.money = money
        self.lines: tuple[Line, ...] = ()
        self.line_colors: Mapping[str, RGB] = {}
        self.window_s = 300.0

    def show_lines(self, lines: Sequence[Line], window_s: float, colors: Mapping[str, RGB] | None = None) -> None:
        self.lines = tuple(lines)
        self.line_colors = dict(colors or {})
        self.window_s = window_s
        self.has_data = bool(self.lines)
        self.refresh()

    def draw(self) -> None:
        plt = self.plt
        for line in self.lines:
            plt.plot(list(line.xs), list(line.ys), marker=MARKER, color=self.line_colors.get(line.label, LINE_COLOR))
        window_s = self.window_s
        plt.xlim(-window_s, 0)
        plt.xticks([-window_s, -window_s / 2, 0.0],
                   [f"-{range_label(window_s)}", f"-{range_label(window_s / 2)}", "now"])
        if self.lines:
            # Plot rows: the height less the title, the box and the x labels; a label every other row at most.
            ticks = nice_ticks(max(max(line.ys) for line in self.lines), _tick_count(self.size.height - 4, 2))
            plt.ylim(0, ticks[-1])
            plt.yticks(ticks, tick_labels(ticks, money=self.money))


class BarPlot(DeckPlot):
    """One horizontal bar per label, biggest first, the value axis in whole counts or money."""

    def __init__(self, title: str, *, id: str | None = None, money: bool = False) -> None:
        super().__init__(title, id=id)
        self.money = money
        self.empty_note = "none"
        self.bars: tuple[tuple[str, float], ...] = ()

    def show_bars(self, bars: Sequence[tuple[str, float]]) -> None:
        self.bars = tuple(bars)
        self.has_data = bool(self.bars)
        self.refresh()

    def draw(self) -> None:
        if not self.bars:
            return
        plt = self.plt
        # plotext draws the first bar at the bottom; reversed, the biggest is on top.
        ordered = list(reversed(self.bars))
        labels = [label if len(label) <= BAR_LABEL_WIDTH else f"{label[:BAR_LABEL_WIDTH - 1]}…"
                  for label, _ in ordered]
        plt.bar(labels, [value for _, value in ordered], orientation="horizontal", width=0.4, color=BAR_COLOR)
        # A label every 10 cells at most: `$0.0002` and its neighbours stay apart.
        most = _tick_count(self.size.width - BAR_LABEL_WIDTH - 2, 10)
        ticks = nice_ticks(max(value for _, value in ordered), most, whole=not self.money)
        plt.xlim(0, ticks[-1])
        plt.xticks(ticks, tick_labels(ticks, money=self.money))
