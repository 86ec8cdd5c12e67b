"""Details of one provider: every field of its last Health probe, its breakers and a metrics summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.widgets.sparkline import sparkline
from providers.deck import Deck
from providers.safe_text import one_line


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def details_text(deck: Deck, provider: str, trend: Sequence[float | None]) -> str:
    """Plain text (no markup: values come from servers) for the details screen."""
    config = deck.providers[provider]
    lines = [f"{provider}  ({config.kind} at {config.base_url or 'default URL'}" + (f", host {config.host})"
                                                                                   if config.host else ")"), ""]
    health = deck.health_of(provider)
    lines.append("Last probe")
    if health is None:
        lines.append("  not probed yet")
    else:
        for field in dataclasses.fields(health):
            value = getattr(health, field.name)
            if field.name == "metrics":
                continue
            lines.append(f"  {field.name:<17} {value if value not in (None, (), '') else '—'}")
        for name, value in sorted(health.metrics.items()):
            lines.append(f"  metrics.{name:<9} {value:g}")
    lines.append(f"  trend             {sparkline(trend, 16)}")
    lines += ["", "Breakers"]
    breakers = deck.breaker_states(provider)
    if not breakers:
        lines.append("  none used yet")
    for model, (state, seconds_left, reason) in breakers.items():
        extra = f" for {seconds_left:.0f}s: {reason}" if state == "open" else ""
        lines.append(f"  {model}: {state}{extra}")
    lines += ["", "Requests"]
    for window in (60.0, 900.0):
        s = deck.request_stats().summary(provider, window_s=window)
        lines.append(
            f"  last {window / 60:.0f} min: {s.requests} requests, {s.errors} errors ({s.error_rate:.0%}); latency "
            f"p50 {_ms(s.latency_p50)} p95 {_ms(s.latency_p95)}; TTFT p50 {_ms(s.ttft_p50)}; "
            f"{'~' if s.estimated_tokens else ''}{(s.tokens_per_s or 0):.0f} tok/s; ${s.cost_usd:.4f}"
        )
        if s.errors_by_kind:
            lines.append("    errors: " + ", ".join(f"{kind} ×{n}" for kind, n in sorted(s.errors_by_kind.items())))
    # Each line holds a server's words (version, detail, last error): one terminal-safe line apiece.
    return "\n".join(one_line(line) for line in lines)


class ProviderDetailsScreen(ModalScreen[None]):
    """Esc closes."""

    BINDINGS: ClassVar = [Binding("escape,q", "dismiss", "Close", id="details-close")]
    CSS_PATH = "provider_details.tcss"

    def __init__(self, deck: Deck, provider: str, trend: Sequence[float | None] = ()) -> None:
        super().__init__()
        self.deck = deck
        self.provider = provider
        self.trend = tuple(trend)

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(details_text(self.deck, self.provider, self.trend), id="details-body", markup=False)
            yield Static("Esc close", classes="hint")

    def on_mount(self) -> None:
        self.set_focus(self.query_one(VerticalScroll))
