"""The explain plan of one alias: every hop in order, why it is ready or skipped, and the route's settings."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from providers.deck import Deck
from providers.display import count, duration, state_with_reason
from providers.safe_text import one_line


def plan_text(deck: Deck, alias: str) -> str:
    """Plain text of `route explain ALIAS`, plus strategy, retries, timeouts and fallbacks."""
    route = deck.route(alias)
    timeouts = route.timeouts
    limits = ", ".join(f"{name} {duration(value)}" for name, value in
                       (("ttft", timeouts.ttft_s), ("idle", timeouts.idle_s), ("total", timeouts.total_s))
                       if value is not None) or "none"
    lines = [
        f"{alias}: {route.strategy}, {count(route.retries, 'retry')}, timeouts {limits}",
        f"fallbacks: {', '.join(route.fallbacks) or 'none'}"
        + ("; continues a cut answer on the next hop" if route.continue_on_failover else ""),
        "",
    ]
    for number, hop in enumerate(deck.explain(alias), start=1):
        mark = "▶" if hop.reason == "would serve now" else " "
        lines.append(f"{mark} {number}. {hop.provider}/{hop.model}  via {hop.via}")
        lines.append(f"      {state_with_reason(hop.state, hop.reason)}")
    # A skip reason can quote a server's error: one terminal-safe line apiece.
    return "\n".join(one_line(line) for line in lines)


class RoutePlanScreen(ModalScreen[None]):
    """Esc closes; `r` recomputes the plan."""

    BINDINGS: ClassVar = [
        Binding("escape,q", "dismiss", "Close", id="plan-close"),
        Binding("r", "replan", "Re-plan", id="plan-refresh"),
    ]
    CSS_PATH = "route_plan.tcss"

    def __init__(self, deck: Deck, alias: str) -> None:
        super().__init__()
        self.deck = deck
        self.alias = alias

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(plan_text(self.deck, self.alias), id="plan-body", markup=False)
            yield Static("Esc close · r re-plan", classes="hint")

    def on_mount(self) -> None:
        self.set_focus(self.query_one(VerticalScroll))

    def action_replan(self) -> None:
        self.query_one("#plan-body", Static).update(plan_text(self.deck, self.alias))
