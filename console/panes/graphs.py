"""Graphs pane: latency, TTFT, tokens/s, requests, errors by class, cost and spend, redrawn only while shown."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.timer import Timer
from textual.widgets import Static

from console.panes.base import DeckPane
from console.panes.graphs_view import GraphsView, build_view, range_label
from console.widgets.plots import BarPlot, TimePlot
from providers.deck import Deck

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
                                          ("cost_by_provider", "Cost per provider ($)"))


class GraphsPane(DeckPane):
    PANE_ID = "graphs"
    PANE_TITLE = "Graphs"

    DEFAULT_CSS = """
    GraphsPane #graphs-status {
        height: 1;
        color: $text-muted;
        padding: 0 1;
    }
    GraphsPane #graphs-scroll {
        height: 1fr;
    }
    GraphsPane #graphs-grid {
        grid-size: 2;
        grid-gutter: 0 1;
        height: auto;
    }
    GraphsPane .deck-plot {
        height: 100%;
    }
    """

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
        self.window_s = DEFAULT_RANGE_S
        self.frozen_at: float | None = None
        """While frozen, every redraw reads the metrics as they were at this moment."""
        self.provider_filter = ""
        """`/` text: only providers whose name contains it (a leading `!`: those that do not)."""
        self.view: GraphsView | None = None
        self.draws = 0
        self._timer: Timer | None = None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    def compose(self) -> ComposeResult:
        yield Static("", id="graphs-status", markup=False)
        with VerticalScroll(id="graphs-scroll"), Grid(id="graphs-grid"):
            for name, title in TIME_PLOTS:
                yield TimePlot(title, id=f"plot-{name}")
            for name, title in BAR_PLOTS:
                yield BarPlot(title, id=f"plot-{name}")
            yield TimePlot("Cumulative spend ($)", id="plot-cumulative_spend")

    def on_mount(self) -> None:
        self._timer = self.set_interval(self.refresh_s, self._tick, pause=True)
        self._show_status()

    def on_show(self) -> None:
        if self._timer is not None:
            self._timer.resume()
        self.redraw()

    def on_hide(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_resize(self, event: events.Resize) -> None:
        plots = len(TIME_PLOTS) + len(BAR_PLOTS) + 1
        columns = 4 if event.size.width >= WIDE_COLUMNS_FROM else 2
        rows = math.ceil(plots / columns)
        height = max(PLOT_MIN_HEIGHT, (event.size.height - 1) // rows)
        grid = self.query_one("#graphs-grid", Grid)
        grid.styles.grid_size_columns = columns
        grid.styles.grid_rows = str(height)
        grid.styles.height = rows * height

    # --- the DeckPane contract -------------------------------------------------------------------------

    def refresh_now(self) -> None:
        self.redraw(force=True)

    def apply_filter(self, text: str) -> None:
        self.provider_filter = text.strip()
        self.redraw()

    def _keeps(self, provider: str) -> bool:
        inverted = self.provider_filter.startswith("!")
        needle = self.provider_filter.removeprefix("!").strip().lower()
        return not needle or (needle in provider.lower()) != inverted

    # --- drawing ---------------------------------------------------------------------------------------

    def _tick(self) -> None:
        if self.frozen_at is None:
            self.redraw()

    def redraw(self, *, force: bool = False) -> None:
        """Read the metrics and redraw the plots whose data changed; cheap enough for every tick."""
        view = build_view(self.deck.metrics, self.window_s, now=self.frozen_at, keep=self._keeps)
        if view == self.view and not force:
            return
        self.view = view
        self.draws += 1
        for name, _ in TIME_PLOTS:
            self.query_one(f"#plot-{name}", TimePlot).show_lines(getattr(view, name), view.window_s)
        for name, _ in BAR_PLOTS:
            self.query_one(f"#plot-{name}", BarPlot).show_bars(getattr(view, name))
        spend = view.cumulative_spend
        self.query_one("#plot-cumulative_spend", TimePlot).show_lines([spend] if spend.xs else [], view.window_s)
        self._show_status()

    def _show_status(self) -> None:
        parts = [f"range {range_label(self.window_s)} (+/-)"]
        if self.provider_filter:
            parts.append(f"filter: {self.provider_filter}")
        if self.view is not None:
            parts.append(f"step {range_label(self.view.step_s)}")
            parts.append(f"{self.view.requests} requests")
        parts.append(f"FROZEN at {time.strftime('%H:%M:%S', time.localtime(self.frozen_at))} (f)"
                     if self.frozen_at is not None else "live (f freezes)")
        spent = sum(self.deck.spend.day.values())
        parts.append(f"spent today ${spent:.4f}")
        self.query_one("#graphs-status", Static).update(" · ".join(parts))

    # --- actions ---------------------------------------------------------------------------------------

    def _set_range(self, step: int) -> None:
        index = RANGES_S.index(self.window_s) if self.window_s in RANGES_S else RANGES_S.index(DEFAULT_RANGE_S)
        self.window_s = RANGES_S[max(0, min(len(RANGES_S) - 1, index + step))]
        self.redraw()
        self._show_status()

    def action_range_longer(self) -> None:
        self._set_range(+1)

    def action_range_shorter(self) -> None:
        self._set_range(-1)

    def action_freeze(self) -> None:
        self.frozen_at = None if self.frozen_at is not None else self.clock()
        self.redraw(force=True)
