"""Plotext plots for the Graphs pane: lines over a time window, and labelled horizontal bars."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from console.panes.graphs_view import Line, range_label

MARKER = "braille"
"""Braille dots: the finest lines a terminal cell can draw, and plain text over SSH."""


class TimePlot(PlotextPlot):
    """Lines against "seconds ago", the x axis fixed to the window so plots of one range line up."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="deck-plot")
        self.title_text = title
        self.plt.title(title)

    def show_lines(self, lines: Sequence[Line], window_s: float) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title_text if lines else f"{self.title_text} · no data")
        for line in lines:
            plt.plot(list(line.xs), list(line.ys), label=line.label, marker=MARKER)
        plt.xlim(-window_s, 0)
        ticks = [-window_s, -window_s / 2, 0.0]
        plt.xticks(ticks, [f"-{range_label(window_s)}", f"-{range_label(window_s / 2)}", "now"])
        self.refresh()


class BarPlot(PlotextPlot):
    """One horizontal bar per label, biggest first."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="deck-plot")
        self.title_text = title
        self.plt.title(title)

    def show_bars(self, bars: Sequence[tuple[str, float]]) -> None:
        plt = self.plt
        plt.clear_data()
        plt.title(self.title_text if bars else f"{self.title_text} · none")
        if bars:
            # plotext draws the first bar at the bottom; reversed, the biggest is on top.
            ordered = list(reversed(bars))
            plt.bar([label for label, _ in ordered], [value for _, value in ordered], orientation="horizontal",
                    width=0.4)
        self.refresh()
