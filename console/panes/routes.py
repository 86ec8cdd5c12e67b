"""Pane 4, Routes: every alias with its chain, each hop's live state, the hop that would serve now, test-fire."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import DataTable, Static

from console.bridge import DeckBridge
from console.panes.base import SyncedPane
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import Cell, KeyedTable, Row, plain
from console.widgets.row_filter import RowFilter
from console.widgets.status_badge import themed
from console.widgets.table_sort import SortValue, text_value
from providers.base import ChatRequest, Message
from providers.chat_run import ChatRun
from providers.deck import Deck
from providers.errors import ProviderError
from providers.routing import PlannedHop
from providers.safe_text import terminal_safe

TEST_PROMPT = "Reply with one short sentence: are you there?"
TEST_MAX_TOKENS = 24
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("now", "▶", 1, sortable=False), ColumnSpec("alias", "Alias", 10, min_width=8),
    ColumnSpec("provider", "Provider", 14, min_width=8),
    ColumnSpec("model", "Model", 22, min_width=10, cut_middle=True),
    ColumnSpec("state", "State", 24, min_width=10), ColumnSpec("via", "Via", 12, min_width=6),
    ColumnSpec("hop", "#", 2),
)
"""Every column is kept (the serving hop and the state are what the pane is for); the names shrink instead."""
TONE_RANK = {"success": 0, "foreground-muted": 1, "warning": 2, "error": 3}
_SECONDS = re.compile(r"for (\d+)s")
TIMED_REASONS = ("breaker open", "rate-limited", "over budget")
"""Why a hop is skipped, where time alone ends it: a cooldown, a rate-limit window, the day's budget."""
TEST_HINT = "t: test-fire the selected route with a short prompt"


@dataclass(frozen=True, slots=True)
class HopRow:
    """One hop of one alias as the pane shows it."""

    alias: str
    index: int
    via: str
    provider: str
    model: str
    state: str
    tone: str  # a theme variable: success, warning, error, foreground-muted
    serves: bool
    reason: str

    def matches(self, needle: str) -> bool:
        return needle in " ".join((self.alias, self.via, self.provider, self.model, self.state, self.reason)).lower()

    @property
    def key(self) -> str:
        return f"{self.alias}#{self.index}"

    def sort_values(self) -> tuple[SortValue, ...]:
        """One per column: the state by how bad it is (ready first), the hop by its number."""
        return (None, self.alias.casefold(), self.provider.casefold(), self.model.casefold(),
                TONE_RANK.get(self.tone, len(TONE_RANK)), text_value("" if self.via == self.alias else self.via),
                float(self.index))


def hop_state(hop: PlannedHop, wall_now: float) -> tuple[str, str]:
    """(state, tone) from the router's reason: ready / breaker open / rate-limited until T / over budget / down."""
    reason = hop.reason
    if hop.state == "ready":
        return "ready", "success"
    if reason.startswith("unhealthy ("):
        return reason[len("unhealthy ("):].rstrip(")"), "error"
    if reason.startswith("breaker open"):
        seconds = _SECONDS.search(reason)
        return f"breaker open {seconds.group(1)}s" if seconds else "breaker open", "error"
    if reason.startswith("rate-limited"):
        seconds = _SECONDS.search(reason)
        if seconds:
            until = time.strftime("%H:%M:%S", time.localtime(wall_now + int(seconds.group(1))))
            return f"rate-limited until {until}", "warning"
        return "rate-limited", "warning"
    if reason.startswith("over budget"):
        return "over budget", "warning"
    return reason, "foreground-muted"


def hop_rows(deck: Deck, wall_now: float | None = None) -> list[HopRow]:
    """Every alias's plan right now, in config order."""
    now = time.time() if wall_now is None else wall_now
    rows: list[HopRow] = []
    for alias in deck.aliases():
        for index, hop in enumerate(deck.explain(alias)):
            state, tone = hop_state(hop, now)
            rows.append(HopRow(alias, index, hop.via, hop.provider, hop.model, state, tone,
                               hop.reason == "would serve now", hop.reason))
    return rows


def attempts_text(alias: str, run: ChatRun, error: ProviderError | None) -> str:
    """The outcome of a test-fire: who served, and every hop tried or skipped."""
    routed = run.routed
    if error is None and routed.served_by is not None:
        served = routed.served_by
        head = (f"test {alias}: served by {served.provider}/{served.model} in {routed.total_ms or 0:.0f} ms"
                f" (TTFT {routed.ttft_ms or 0:.0f} ms, ${run.cost_usd:.5f})")
    else:
        head = f"test {alias}: failed — {error}"
    lines = [head]
    for number, attempt in enumerate(routed.attempts, start=1):
        detail = attempt.reason if attempt.outcome == "skipped" else (
            f"{attempt.ms:.0f} ms" + (f" — {attempt.error_kind}: {attempt.error}" if attempt.error else ""))
        lines.append(f"  {number}. {attempt.provider}/{attempt.model} via {attempt.via}: {attempt.outcome} {detail}")
    return "\n".join(lines)


class RoutesPane(SyncedPane):
    """The routing table, live. Enter (or `e`) shows the explain plan; `t` sends a short test prompt.

    The plan is the router's (read through the Deck at each sync); the pane owns the test line and when the
    table is redrawn."""

    PANE_ID: ClassVar[str] = "routes"
    PANE_TITLE: ClassVar[str] = "Routes"
    FOCUS = "#routes-table"
    BINDINGS: ClassVar = [
        Binding("t", "test_fire", "Test route", id="routes-test-fire"),
        Binding("e", "explain", "Explain", id="routes-explain"),
    ]
    last_test: var[str] = var(TEST_HINT, init=False)
    """What the test line shows: the hint, then the outcome of the last test-fire (terminal-safe)."""

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        self._shown_rows: list[HopRow] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="routes-table")
        yield Static(self.last_test, id="routes-test", markup=False)

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#routes-table", KeyedTable)

    # The plan reads health statuses, breakers, rate limits and budgets: a status change or a finished request
    # is drawn at once; a probe that changed no status changes no plan.

    def on_deck_bridge_health_changed(self, message: DeckBridge.HealthChanged) -> None:
        if any(event.changed for event in message.events):
            self.deck_changed()

    def on_deck_bridge_requests_finished(self, message: DeckBridge.RequestsFinished) -> None:
        self.deck_changed()

    def needs_clock(self) -> bool:
        """A breaker cooldown, a rate limit or a budget that time ends is shown, or requests are under way (a
        `least-busy` route's order follows them, and a request's start is no deck event)."""
        return (self.changed or self.deck.in_flight() > 0
                or any(row.reason.startswith(TIMED_REASONS) for row in self._shown_rows))

    def refresh_now(self) -> None:
        self.deck.probe_now()
        self.sync()

    def visible_rows(self) -> list[HopRow]:
        keep = RowFilter.parse(self.filter_text)
        rows = hop_rows(self.deck)
        # A chosen host keeps each route that can reach it, whole: its fallback order means nothing cut apart.
        reaching = {row.alias for row in rows if self.in_context(row.provider)}
        return [row for row in rows if row.alias in reaching and keep.keeps(row)]

    def draw(self) -> None:
        rows = self.visible_rows()
        self.table.show(self._table_rows(rows), {row.key: row.sort_values() for row in rows})
        self._shown_rows = rows

    def _table_rows(self, rows: list[HopRow]) -> list[Row]:
        variables = self.app.theme_variables
        # The alias is written once above its hops while they stay together (the routes' order, or by alias);
        # sorted by another column the hops mix, and each names its alias.
        grouped = self.table.sort_choice.column in (None, "alias")
        table: list[Row] = []
        previous_alias = ""
        for row in rows:
            first = row.alias != previous_alias or not grouped
            alias: Cell = themed(row.alias, "accent", variables, bold=True) if first else ""
            previous_alias = row.alias
            table.append((row.key, self._cells(row, alias, variables)))
        return table

    def on_keyed_table_sort_changed(self, message: KeyedTable.SortChanged) -> None:
        if message.table is self.table:
            self.sync()

    def _cells(self, row: HopRow, alias: Cell, variables: Mapping[str, str]) -> tuple[Cell, ...]:
        marker: Cell = themed("▶", "success", variables, bold=True) if row.serves else ""
        via = "" if row.via == row.alias else row.via
        return (marker, alias, plain(row.provider), plain(row.model), themed(row.state, row.tone, variables),
                plain(via), Text(str(row.index + 1)))

    def selected_alias(self) -> str | None:
        key = self.table.cursor_key()
        return key.rpartition("#")[0] if key else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_explain()

    def action_explain(self) -> None:
        from console.screens.route_plan import RoutePlanScreen

        alias = self.selected_alias()
        if alias is not None:
            self.app.push_screen(RoutePlanScreen(self.deck, alias))

    def action_test_fire(self) -> None:
        alias = self.selected_alias()
        if alias is not None:
            self.test_fire(alias)

    def show_test(self, text: str) -> None:
        self.last_test = terminal_safe(text)  # the attempts quote server errors

    def watch_last_test(self, text: str) -> None:
        if self.is_mounted:
            self.query_one("#routes-test", Static).update(text)

    @work(group="test_fire", exclusive=True, exit_on_error=False)
    async def test_fire(self, alias: str) -> None:
        """Send the test prompt through the route (a real request: it is recorded like any other)."""
        self.show_test(f"test {alias}: sending…")
        request = ChatRequest(model="", messages=(Message("user", TEST_PROMPT),), max_tokens=TEST_MAX_TOKENS)
        run = self.deck.chat_stream(alias, request)
        error: ProviderError | None = None
        try:
            async with run:  # leaving it writes the row, so the cost below is known
                async for _ in run:
                    pass
        except ProviderError as exc:
            error = exc
        self.show_test(attempts_text(alias, run, error))
        self.sync()
