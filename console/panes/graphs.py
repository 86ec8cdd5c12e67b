"""Graphs pane: latency, TTFT, tokens/s, requests, errors by class, cost and spend, redrawn only while shown,
drawn at once on arrival, with one legend line for all plots."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.reactive import var
from textual.timer import Timer
from textual.widgets import Static

from console.panes.base import DeckPane
from console.panes.graphs_view import GraphsView, assign_colors, build_view, range_label
from console.widgets.axis_labels import money
from console.widgets.plots import RGB, BarPlot, TimePlot
from console.widgets.row_filter import RowFilter
from providers.deck import Deck
from providers.display import count

RANGES_S: tuple[float, ...] = (60.0, 180.0, 300.0, 600.0, 900.0)
"""Time ranges `+`/`-` step through; the metrics keep 15 minutes."""
DEFAULT_RANGE_S = 300.0
PLOT_MIN_HEIGHT = 10
WIDE_COLUMNS_FROM = 150
"""At this width and more, four plots share a row; below it, two."""

TIME_PLOTS: tuple[tuple[str, str], ...] = (
    ("latency_p50", "Latency p50 (ms)"), ("latency_p95", "Latency p95 (ms)"), ("ttft_p50", "TTFT p50 (ms)"),
    ("tokens_per_s", "Tokens/s"), ("requests_per_step", "Requests per step"),
)
BAR_PLOTS: tuple[tuple[str, str], ...] = (("errors_by_kind", "Errors by class"),
                                          ("cost_by_provider", "Cost per provider"))
PALETTE: tuple[RGB, ...] = ((230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (213, 94, 0),
                            (0, 114, 178))
"""Okabe-Ito colours: told apart by colour-blind eyes, readable on dark and light themes and in 256 colours."""
LEGEND_MARK = "━━"


class GraphsPane(DeckPane):
    """The plots of the deck's rolling metrics. The pane owns its range, its freeze and its filter (reactive: set
    one and the plots follow) and its own redraw timer at `ui.refresh_s`, paused while hidden: plots move with
    time at the rate the operator chose, not at the app's clock."""

    PANE_ID = "graphs"
    PANE_TITLE = "Graphs"
    FOCUS = "#graphs-scroll"
    """The plots' scroller: at 80×24 two plots show at a time, and Down / PageDown bring the others."""

    window_s: var[float] = var(DEFAULT_RANGE_S, init=False)
    """The time range plotted, one of RANGES_S."""
    frozen_at: var[float | None] = var(None, init=False)
    """While frozen, every redraw reads the metrics as they were at this moment."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("plus,equals_sign", "range_longer", "Longer range", key_display="+", id="graphs-range-longer"),
        Binding("minus", "range_shorter", "Shorter range", key_display="-", id="graphs-range-shorter"),
        Binding("f", "freeze", "Freeze", id="graphs-freeze"),
    ]

    def __init__(self, deck: Deck, *, readonly: bool = False, refresh_s: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(deck, readonly=readonly)
        self.refresh_s = refresh_s or deck.config.ui.refresh_s
        self.clock = clock
        self.view: GraphsView | None = None
        self.draws = 0
        self.status_text = ""
        self.legend_text = ""
        self.line_colors: dict[str, int] = {}
        """Palette index of each provider drawn, kept from redraw to redraw so lines keep their colours."""
        self._timer: Timer | None = None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    def compose(self) -> ComposeResult:
        yield Static("", id="graphs-status", markup=False)
        yield Static("", id="graphs-legend", markup=False)
        with VerticalScroll(id="graphs-scroll"), Grid(id="graphs-grid"):
            for name, title in TIME_PLOTS:
                yield TimePlot(title, id=f"plot-{name}")
            for name, title in BAR_PLOTS:
                yield BarPlot(title, id=f"plot-{name}", money=name == "cost_by_provider")
            yield TimePlot("Cumulative spend, all providers", id="plot-cumulative_spend", money=True)

    def on_mount(self) -> None:
        self._timer = self.set_interval(self.refresh_s, self._tick, pause=True)
        self._show_status()

    def on_show(self) -> None:
        # Drawn now, with whatever data there is, and sized now: the first timer tick is `ui.refresh_s` away.
        if self._timer is not None:
            self._timer.resume()
        self.redraw()
        self._fit_grid(self.size.width, self.size.height)

    def on_hide(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_grid(event.size.width, event.size.height)

    def _fit_grid(self, width: int, height: int) -> None:
        """Rows of plots that share the height left under the summary and the legend (a scroll beyond that)."""
        if width <= 0 or height <= 0:
            return  # not laid out yet: on_resize follows
        plots = len(TIME_PLOTS) + len(BAR_PLOTS) + 1
        columns = 4 if width >= WIDE_COLUMNS_FROM else 2
        rows = math.ceil(plots / columns)
        above = _wrapped_rows(self.status_text, width - 2) + _wrapped_rows(self.legend_text, width - 2)
        height = max(PLOT_MIN_HEIGHT, (height - above) // rows)
        grid = self.query_one("#graphs-grid", Grid)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_rows = str(height)
        grid.styles.height = rows * height

    # --- the DeckPane contract -------------------------------------------------------------------------

    def refresh_now(self) -> None:
        self.redraw(force=True)

    def validate_filter_text(self, text: str) -> str:
        return text.strip()

    def watch_filter_text(self) -> None:
        """`/` text: only providers whose name contains it (a leading `!`: those that do not)."""
        self.redraw()
        self._show_status()

    def watch_host(self) -> None:
        if self.display:  # a hidden pane redraws when shown
            self.redraw()
            self._show_status()

    def watch_window_s(self) -> None:
        self.redraw()
        self._show_status()

    def watch_frozen_at(self) -> None:
        self.redraw(force=True)

    def _keeps(self, provider: str) -> bool:
        return self.in_context(provider) and RowFilter.parse(self.filter_text).keeps_text(provider)

    # --- drawing ---------------------------------------------------------------------------------------

    def _tick(self) -> None:
        if self.frozen_at is None:
            self.redraw()

    def redraw(self, *, force: bool = False) -> None:
        """Read the metrics and redraw the plots whose data changed; cheap enough for every tick."""
        view = build_view(self.deck.request_stats(), self.window_s, now=self.frozen_at, keep=self._keeps)
        if view == self.view and not force:
            return
        self.view = view
        self.draws += 1
        self.line_colors = assign_colors(view.shown, self.line_colors, len(PALETTE))
        colors = {provider: PALETTE[index] for provider, index in self.line_colors.items()}
        for name, _ in TIME_PLOTS:
            self.query_one(f"#plot-{name}", TimePlot).show_lines(getattr(view, name), view.window_s, colors)
        for name, _ in BAR_PLOTS:
            self.query_one(f"#plot-{name}", BarPlot).show_bars(getattr(view, name))
        spend = view.cumulative_spend
        self.query_one("#plot-cumulative_spend", TimePlot).show_lines([spend] if spend.xs else [], view.window_s)
        self._show_legend(colors)
        self._show_status()
        self._fit_grid(self.size.width, self.size.height)  # the legend may have grown a row

    def _show_legend(self, colors: dict[str, RGB]) -> None:
        """Every line's provider in its colour, above the plots and off their data (plotext's own legend covers
        the newest points and drops series that do not fit a small plot)."""
        legend = Text("lines:", style="dim", no_wrap=False)
        for provider, (red, green, blue) in colors.items():
            legend.append("  ")
            legend.append(LEGEND_MARK, style=f"bold rgb({red},{green},{blue})")
            legend.append(f" {provider}")  # a config name, appended as plain text: never read as markup
            if self.view is not None and provider in self.view.estimated:
                legend.append(" (~tokens est.)", style="dim")
        if not colors:
            legend.append(" none (no requests in this range)")
        self.legend_text = legend.plain
        self.query_one("#graphs-legend", Static).update(legend)

    def _show_status(self) -> None:
        """The summary, the money before the hints: at 80 columns it fits one line, and when a filter or a
        freeze makes it longer it wraps rather than losing its end."""
        parts = [f"range {range_label(self.window_s)} (+/-)"]
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if self.view is not None:
            parts.append(count(self.view.requests, "request"))
        parts.append(f"{money(self.deck.spend_today())} spent today")
        parts.append(f"FROZEN at {time.strftime('%H:%M:%S', time.localtime(self.frozen_at))} (f)"
                     if self.frozen_at is not None else "live (f)")
        if self.view is not None:
            parts.append(f"step {range_label(self.view.step_s)}")
        text = " · ".join(parts)
        if text != self.status_text:
            self.status_text = text
            self.query_one("#graphs-status", Static).update(text)
            self._fit_grid(self.size.width, self.size.height)  # a wrapped summary takes a row from the plots

    # --- actions ---------------------------------------------------------------------------------------

    def _set_range(self, step: int) -> None:
        index = RANGES_S.index(self.window_s) if self.window_s in RANGES_S else RANGES_S.index(DEFAULT_RANGE_S)
        self.window_s = RANGES_S[max(0, min(len(RANGES_S) - 1, index + step))]

    def action_range_longer(self) -> None:
        self._set_range(+1)

    def action_range_shorter(self) -> None:
        self._set_range(-1)

    def action_freeze(self) -> None:
        self.frozen_at = None if self.frozen_at is not None else self.clock()


def _wrapped_rows(text: str, width: int) -> int:
    """Rows a one-line text takes when wrapped at `width` (an estimate by length: the texts are short)."""
    return max(1, math.ceil(len(text) / max(1, width)))
