"""The header line: demo badge, providers up/total, active streams, spend today, read-only, filter."""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from rich.text import Text
from textual.reactive import var
from textual.widgets import Static

from console.widgets.status_badge import theme_style
from providers.deck import Deck
from providers.host_context import providers_on


def status_counts(deck: Deck, host: str | None = None) -> tuple[int, int, int, float]:
    """(providers up, providers in total, streams in flight, USD spent today); the counts of providers are the
    chosen host's when one is."""
    names = set(providers_on(deck.providers, host))
    up = sum(1 for name, health in deck.last_health().items()
             if name in names and health.status in ("up", "degraded"))
    return up, len(names), deck.in_flight(), deck.spend_today()


class DeckStatus(Static):
    """Re-rendered only when its text changes. The app asks it to `update_from` the deck on every deck message and
    every clock tick (a stream's start is no deck event); `filter_text` is the shown pane's filter, and setting
    it redraws the line."""

    DEFAULT_CSS = "DeckStatus { height: 1; background: $panel; }"

    filter_text: var[str] = var("", init=False)
    host: var[str | None] = var(None, init=False)
    """The host the console is narrowed to: shown as `@NAME` after the name, its providers counted."""

    def __init__(self, deck: Deck, *, demo: bool, readonly: bool, chaos: Mapping[str, str] | None = None,
                 host: str | None = None, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.deck = deck
        self.demo = demo
        self.chaos = chaos if chaos is not None else {}  # the demo's live provider → fault spec
        self.readonly = readonly
        self.set_reactive(DeckStatus.host, host)
        self._shown = ""

    def on_mount(self) -> None:
        self.update_from()

    def on_resize(self) -> None:
        self.update_from()

    def watch_filter_text(self) -> None:
        self.update_from()

    def watch_host(self) -> None:
        self.update_from()

    def update_from(self) -> None:
        width = self.size.width or self.app.size.width
        line = self._line(0)
        for level in (1, 2, 3):  # shorter wordings of everything but the filter, until the line fits
            if line.cell_len <= width:
                break
            line = self._line(level)
        line.no_wrap, line.overflow = True, "ellipsis"  # a filter longer than the line ends in `…`
        if line.plain != self._shown:
            self._shown = line.plain
            self.update(line)

    def _line(self, level: int) -> Text:
        """The header at a level of shortening: 0 says everything in words, 3 keeps counts, marks and the filter."""
        up, total, streams, spend = status_counts(self.deck, self.host)
        variables = self.app.theme_variables
        line = Text(" llmdeck " if level < 3 else "", style=theme_style("accent", variables, bold=True))
        if self.host is not None:  # a config name: appended as plain text
            line.append(f"@{self.host} ", style=theme_style("accent", variables, bold=True))
        if self.demo:
            line.append(" DEMO " if level < 2 else "D", style=theme_style("warning", variables, bold=True)
                        + Style(reverse=True))
            line.append(" ")
        health_tone = "success" if up == total else "warning" if up else "error"
        line.append(f" {up}/{total} up ", style=theme_style(health_tone, variables))
        if level == 0:
            line.append(f"· {streams} stream{'s' if streams != 1 else ''} · ${spend:.4f} today")
        else:  # short: streams only while there are some (`2▶`), spend in cents
            line.append((f"· {streams}▶ " if streams else "") + f"· ${spend:.2f}")
        if self.chaos:
            chaos = ", ".join(sorted(self.chaos)) if level < 2 else str(len(self.chaos))
            line.append(f"  chaos: {chaos}", style=theme_style("error", variables, bold=True))
        if self.readonly:
            line.append("  READ-ONLY" if level < 2 else " RO", style=theme_style("warning", variables, bold=True))
        if self.filter_text:
            line.append(f"  filter: {self.filter_text}", style=theme_style("foreground-muted", variables))
        return line
