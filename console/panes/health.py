"""Pane 1, Health: one row per provider (status, latency trend, version, loaded models, VRAM, breaker, last error)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from console.bridge import DeckBridge
from console.clipboard import copy_text
from console.panes.base import SyncedPane
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import Cell, KeyedTable, Row, plain
from console.widgets.row_filter import RowFilter
from console.widgets.sparkline import sparkline
from console.widgets.status_badge import badge_text, themed
from console.widgets.table_sort import SortValue, text_value
from providers.base import Health
from providers.deck import Deck
from providers.display import count, plural
from providers.gpu_info import HostGpus
from providers.gpu_text import gpu_summary
from providers.safe_text import one_line

STATUS_RANK = {"up": 0, "degraded": 1, "probing": 2, "unknown": 3, "down": 4}
BREAKER_RANK = {"closed": 0, "half-open": 1, "open": 2}
HISTORY = 16
"""Probe latencies kept per provider for the trend column."""
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("provider", "Provider", 12), ColumnSpec("status", "Status", 10),
    ColumnSpec("latency", "Latency", 8, priority=4), ColumnSpec("trend", "Trend", 12, priority=6, sortable=False),
    ColumnSpec("breaker", "Breaker", 9, priority=3), ColumnSpec("loaded", "Loaded", 22, priority=5, min_width=10),
    ColumnSpec("vram", "VRAM", 14, priority=2, min_width=12),
    ColumnSpec("version", "Version", 14, priority=1, min_width=7),
    ColumnSpec("error", "Last error", 48, min_width=24),
)
"""Status and the last error are never dropped; at 80 columns VRAM and the version stay too (the breaker, latency,
loaded models and trend come back as the terminal widens, or with `W`)."""
COLUMN_INDEX = {spec.key: index for index, spec in enumerate(COLUMNS)}
HOST_KEY = "host:"
"""Row keys of the host rows: `host:NAME` (a provider's own name cannot hold a colon)."""


@dataclass(frozen=True, slots=True)
class ProviderRow:
    """What the pane shows for one provider (a view model: plain values, no widgets)."""

    name: str
    kind: str
    host: str | None
    status: str
    latency_ms: float | None
    trend: tuple[float | None, ...]
    breaker: str
    loaded: tuple[str, ...]
    vram: str
    version: str
    error: str
    vram_used_bytes: int | None = None

    def sort_values(self) -> tuple[SortValue, ...]:
        """One per column: the worst status, breaker and the slowest last (▲), latency and memory as numbers."""
        return (self.name.casefold(), STATUS_RANK.get(self.status, len(STATUS_RANK)), self.latency_ms, None,
                BREAKER_RANK.get(self.breaker.partition(" ")[0], len(BREAKER_RANK)),
                float(len(self.loaded)) if self.loaded else None, self.vram_used_bytes,
                text_value(self.version), text_value(self.error))

    def matches(self, needle: str) -> bool:
        haystack = " ".join((self.name, self.kind, self.host or "", self.status, self.version, " ".join(self.loaded),
                             self.breaker, self.error)).lower()
        return needle in haystack


def _gib(count: int) -> str:
    return f"{count / 2**30:.1f}"


def vram_text(health: Health) -> str:
    """Memory where the backend says: bytes (Ollama, ComfyUI, A1111), KV cache (vLLM), slots (llama.cpp)."""
    if health.vram_used_bytes is not None and health.vram_total_bytes:
        return f"{_gib(health.vram_used_bytes)}/{_gib(health.vram_total_bytes)} GiB"
    if health.vram_used_bytes:
        return f"{_gib(health.vram_used_bytes)} GiB"
    metrics = health.metrics
    if "kv_cache_usage" in metrics:
        return f"KV {metrics['kv_cache_usage']:.0%}"
    if "slots_total" in metrics:
        return f"slots {metrics.get('slots_busy', 0):.0f}/{metrics['slots_total']:.0f}"
    return "—"


def unreachable_reason(members: Sequence[ProviderRow], reading: HostGpus | None) -> str | None:
    """Why a host cannot be reached — every provider on it down, and the reason they (or its ssh) give — or None
    while any of them answers."""
    if not members or any(member.status != "down" for member in members):
        return None
    if reading is not None and reading.failed and reading.source == "nvidia-smi":  # the ssh login failed too
        return one_line(reading.error or "")
    reasons = [member.error for member in members if member.error]
    return reasons[0] if reasons else "no answer"


def breaker_text(deck: Deck, provider: str) -> str:
    """The worst breaker of the provider's models: `closed`, `half-open` or `open 25s`."""
    state, seconds_left, _reason = deck.breaker_state(provider)
    if state == "open":
        return f"open {seconds_left:.0f}s"
    return state.replace("_", "-")


def provider_row(deck: Deck, name: str, trend: Sequence[float | None], last_error: str) -> ProviderRow:
    config = deck.providers[name]
    health = deck.health_of(name)
    if health is None and name in deck.unsupported:
        health = Health(status="unknown", detail=f"no adapter for kind {config.kind} yet")
    error = last_error
    if health is not None and health.status != "up" and health.detail:
        error = health.detail
    return ProviderRow(
        name=name, kind=config.kind, host=config.host, status=health.status if health else "probing",
        latency_ms=health.latency_ms if health and health.status != "down" else None, trend=tuple(trend),
        breaker=breaker_text(deck, name), loaded=health.models_loaded if health else (),
        vram=vram_text(health) if health else "—", version=(health.version or "—") if health else "—", error=error,
        vram_used_bytes=health.vram_used_bytes if health else None,
    )


class HealthPane(SyncedPane):
    """Health of every provider, grouped by host when hosts are configured. Enter (or `d`) opens details.

    Owns the latency history (every probe is remembered, shown or not) and the last error of each provider;
    the table, the summary line and when they are redrawn."""

    PANE_ID: ClassVar[str] = "health"
    PANE_TITLE: ClassVar[str] = "Health"
    FOCUS = "#health-table"
    BINDINGS: ClassVar = [
        Binding("d", "details", "Details", id="health-details"),
        Binding("p", "probe", "Probe now", id="health-probe"),
        Binding("y", "copy_url", "Copy URL", id="copy"),
    ]
    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        self.history: dict[str, deque[float | None]] = {}
        self.errors: dict[str, str] = {}
        self._shown_rows: list[ProviderRow] = []
        self._summary = ""
        self._gpus_drawn: dict[str, str] = {}
        """Each host's GPU summary on screen: one that reads differently is drawn on the next tick (a reading that
        says the same, as every 5 s on an idle box, costs no redraw)."""
        for name, health in deck.last_health().items():
            self._remember(name, health)

    def compose(self) -> ComposeResult:
        yield KeyedTable(COLUMNS, id="health-table")
        yield Static(id="health-summary", markup=False)

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#health-table", KeyedTable)

    # --- the pane contract ----------------------------------------------------------------------------

    # A probe that only moves a latency waits for the clock's next tick: with 100 providers probed every second,
    # drawing each flush as it comes would redraw the table ten times a second. A status that changed, or a
    # request that failed, is drawn at once.

    def on_deck_bridge_health_changed(self, message: DeckBridge.HealthChanged) -> None:
        for event in message.events:
            self._remember(event.provider, event.health)
        self.deck_changed(now=any(event.changed for event in message.events))

    def on_deck_bridge_requests_finished(self, message: DeckBridge.RequestsFinished) -> None:
        failed = [attempt for finished in message.events for attempt in finished.attempts
                  if attempt.outcome in ("error", "broken") and attempt.error]
        for attempt in failed:
            self.errors[attempt.provider] = f"{attempt.error_kind}: {attempt.error}"
        self.deck_changed(now=bool(failed))  # a success may close a breaker: shown on the tick

    def needs_clock(self) -> bool:
        """Probes not drawn yet, or an open breaker's cooldown counting down on screen."""
        return (self.changed or any(row.breaker.startswith("open") for row in self._shown_rows)
                or self._gpu_stamps() != self._gpus_drawn)

    def _gpu_stamps(self) -> dict[str, str]:
        return {host: gpu_summary(reading) for host, reading in self.deck.gpus().items()}

    def refresh_now(self) -> None:
        self.deck.probe_now()
        self.sync()

    # --- rendering ----------------------------------------------------------------------------------

    def _remember(self, name: str, health: Health) -> None:
        trend = self.history.setdefault(name, deque(maxlen=HISTORY))
        trend.append(health.latency_ms if health.status != "down" else None)

    def rows(self) -> list[ProviderRow]:
        return [provider_row(self.deck, name, self.history.get(name, ()), self.errors.get(name, ""))
                for name in self.deck.providers if self.in_context(name)]

    def visible_rows(self) -> list[ProviderRow]:
        keep = RowFilter.parse(self.filter_text)
        return [row for row in self.rows() if keep.keeps(row)]

    def draw(self) -> None:
        """Show the current state; only changed cells are touched."""
        rows = self.visible_rows()
        self._gpus_drawn = self._gpu_stamps()
        self.table.show(self._table_rows(rows), {row.name: row.sort_values() for row in rows})
        self._shown_rows = rows
        self._summarize(rows)

    def _summarize(self, rows: list[ProviderRow]) -> None:
        up = sum(row.status in ("up", "degraded") for row in rows)
        total = sum(map(self.in_context, self.deck.providers)) if self.filter_text else len(rows)
        shown = f"{len(rows)} of {total}" if self.filter_text else f"{len(rows)}"
        parts = [f"{shown} {plural(total, 'provider')}", f"{up} up"]
        parts += [f"filter: {self.filter_text}"] if self.filter_text else []
        if not any(provider.host for provider in self.deck.providers.values()):  # no host rows to show GPUs on
            parts += [f"{host}: {summary}" for host, reading in self.deck.gpus().items()
                      if (summary := gpu_summary(reading))]
        selected = self.selected_provider()
        table = self.table
        error = next((row.error for row in rows if row.name == selected), "")
        if error and (cell_len(error) > dict(table.fit).get("error", 0) or table.virtual_size.width > table.size.width):
            # The error column cuts it (80 columns), or the wide view has it off to the right: say it whole here.
            parts.append(f"▸ {selected}: {error}")
        # The last error is a server's words: one terminal-safe line.
        summary = one_line(" · ".join(parts))
        if summary != self._summary:  # an unchanged line costs no redraw
            self._summary = summary
            self.query_one("#health-summary", Static).update(summary, layout=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._summarize(self._shown_rows)  # a cursor move changes no row: what sync showed last is current

    def _table_rows(self, rows: list[ProviderRow]) -> list[Row]:
        variables = self.app.theme_variables
        if not any(provider.host for provider in self.deck.providers.values()):
            return [(row.name, self._cells(row, variables)) for row in rows]
        groups: dict[str, list[ProviderRow]] = {}
        for row in rows:
            groups.setdefault(row.host or "", []).append(row)
        readings = self.deck.gpus()
        table: list[Row] = []
        for host in sorted(groups, key=lambda h: (h == "", h)):
            members = groups[host]
            reading = readings.get(host)
            unreachable = unreachable_reason(members, reading)
            table.append((f"{HOST_KEY}{host}", self._host_cells(host, members, reading, unreachable, variables)))
            if unreachable is None:  # a host that cannot be reached is one row: its providers say nothing more
                table += [(row.name, self._cells(row, variables)) for row in members]
        return table

    def _host_cells(self, host: str, members: list[ProviderRow], reading: HostGpus | None, unreachable: str | None,
                    variables: Mapping[str, str]) -> tuple[Cell, ...]:
        """The host's summary row: its name, providers up, its GPUs; why it cannot be reached, once."""
        up = sum(m.status in ("up", "degraded") for m in members)
        name = themed(f"{'▸' if unreachable else '▾'} {host or 'no host'}", "accent", variables, bold=True)
        status: Cell = (themed("unreachable", "error", variables, bold=True) if unreachable is not None
                        else Text(f"{up}/{len(members)} up"))
        cells: list[Cell] = [name, status, *("",) * (len(COLUMNS) - 2)]
        cells[COLUMN_INDEX["vram"]] = plain(gpu_summary(reading))
        if unreachable is not None:
            cells[COLUMN_INDEX["error"]] = plain(f"{count(len(members), 'provider')} down: {unreachable}")
        return tuple(cells)

    def _cells(self, row: ProviderRow, variables: Mapping[str, str]) -> tuple[Cell, ...]:
        latency = f"{row.latency_ms:.0f} ms" if row.latency_ms is not None else "—"
        breaker_var = "error" if row.breaker.startswith("open") else "warning" if row.breaker == "half-open" else ""
        breaker: Cell = themed(row.breaker, breaker_var, variables) if breaker_var else row.breaker
        return (
            plain(row.name), badge_text(row.status, variables), latency, sparkline(row.trend), breaker,
            plain(", ".join(row.loaded) or "—"), plain(row.vram), plain(row.version), plain(row.error),
        )

    # --- actions ------------------------------------------------------------------------------------

    def selected_provider(self) -> str | None:
        key = self.table.cursor_key()
        return key if key in self.deck.providers else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_details(self) -> None:
        from console.screens.provider_details import ProviderDetailsScreen

        provider = self.selected_provider()
        if provider is not None:
            self.app.push_screen(ProviderDetailsScreen(self.deck, provider, self.history.get(provider, ())))
            return
        key = self.table.cursor_key()
        if key is not None and key.startswith(HOST_KEY):
            from console.screens.host_details import HostDetailsScreen

            self.app.push_screen(HostDetailsScreen(self.deck, key.removeprefix(HOST_KEY)))

    def action_copy_url(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            self.notify("No provider selected.", severity="warning")
            return
        url = self.deck.providers[provider].base_url
        if url is None:
            self.notify(f"{provider} has no base_url in the config (its kind's default is used): nothing copied.",
                        severity="warning")
            return
        copy_text(self.app, url, f"URL of {provider}")

    def action_probe(self) -> None:
        provider = self.selected_provider()
        self.deck.probe_now(provider)
