"""Details of one provider: every field of its last Health probe, its breakers and a metrics summary."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.widgets.sparkline import sparkline
from providers.base import Health
from providers.deck import Deck
from providers.display import (
    byte_size,
    count,
    decimal,
    duration,
    listing,
    milliseconds,
    per_second,
    percent,
    readable,
    state_with_reason,
    token_span,
    usd,
)
from providers.safe_text import one_line

LOADED_SHOWN = 20
"""Loaded models listed by name; a server holding more has the rest counted (`… and 40 more`)."""

HEALTH_FIELDS: dict[str, tuple[str, Callable[[object], str]]] = {
    "status": ("status", readable),
    "latency_ms": ("latency", milliseconds),
    "version": ("version", readable),
    "models_loaded": ("models loaded", lambda names: listing(names, most=LOADED_SHOWN)
                      if isinstance(names, tuple | list) else readable(names)),
    "detail": ("detail", readable),
    "vram_used_bytes": ("VRAM used", byte_size),
    "vram_total_bytes": ("VRAM total", byte_size),
}
"""How each field of a probe is labelled and written; a field added to Health later is shown by `readable`."""


def metric_text(name: str, value: float) -> str:
    """A backend metric by what its name says it holds (providers.adapters.prometheus names them)."""
    if name == "kv_cache_usage":
        return percent(value)
    if name.endswith("_per_s"):
        return per_second(value, "tok") if "tokens" in name else f"{decimal(value)}/s"
    if name.endswith("_s"):
        return duration(value)
    if name.endswith("_usd"):
        return usd(value)
    if name == "n_ctx":
        return token_span(value)
    return decimal(value)  # counts (requests_running, slots_busy, *_total) too: a whole number shows no decimals


def health_lines(health: Health) -> list[tuple[str, str]]:
    """(label, value) of every field of a probe, then its metrics, each written for a person."""
    lines: list[tuple[str, str]] = []
    for field in dataclasses.fields(health):
        if field.name == "metrics":
            continue
        label, write = HEALTH_FIELDS.get(field.name, (field.name.replace("_", " "), readable))
        lines.append((label, write(getattr(health, field.name))))
    lines += [(f"metrics.{name}", metric_text(name, value)) for name, value in sorted(health.metrics.items())]
    return lines


def _breaker_line(model: str, state: str, seconds_left: float, reason: str) -> str:
    if state != "open":
        return f"  {model}: {state}"
    return f"  {model}: {state_with_reason(f'open for {duration(seconds_left)}', reason)}"  # reason may be ""


def details_text(deck: Deck, provider: str, trend: Sequence[float | None]) -> str:
    """Plain text (no markup: values come from servers) for the details screen."""
    config = deck.providers[provider]
    lines = [f"{provider}  ({config.kind} at {config.base_url or 'default URL'}" + (f", host {config.host})"
                                                                                   if config.host else ")"), ""]
    health = deck.health_of(provider)
    lines.append("Last probe")
    if health is None:
        lines.append("  not probed yet")
        labelled = [("trend", sparkline(trend, 16))]
    else:
        labelled = [*health_lines(health), ("trend", sparkline(trend, 16))]
    width = max(len(label) for label, _ in labelled)
    lines += [f"  {label:<{width}}  {value}" for label, value in labelled]
    lines += ["", "Breakers"]
    breakers = deck.breaker_states(provider)
    if not breakers:
        lines.append("  none used yet")
    lines += [_breaker_line(model, state, left, reason) for model, (state, left, reason) in breakers.items()]
    lines += ["", "Requests"]
    for window in (60.0, 900.0):
        s = deck.request_stats().summary(provider, window_s=window)
        lines.append(
            f"  last {window / 60:.0f} min: {count(s.requests, 'request')}, {count(s.errors, 'error')} "
            f"({percent(s.error_rate)}); latency p50 {milliseconds(s.latency_p50)} p95 {milliseconds(s.latency_p95)}"
            f"; TTFT p50 {milliseconds(s.ttft_p50)}; "
            f"{per_second(s.tokens_per_s, 'tok', estimated=bool(s.estimated_tokens))}; {usd(s.cost_usd)}"
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
