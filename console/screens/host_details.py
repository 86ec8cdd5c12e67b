"""Details of one host: its address and ssh, its GPUs (readings and the processes holding memory), and the status
of each of its providers. Plain text: GPU and process names are the driver's words."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from providers.deck import Deck
from providers.gpu_text import gpu_lines
from providers.host_context import providers_on
from providers.safe_text import one_line


def host_text(deck: Deck, host: str) -> str:
    """The host's details as plain, terminal-safe lines."""
    config = next((entry for entry in deck.config.hosts if entry.name == host), None)
    where = [f"address {config.address}" if config and config.address else "",
             f"ssh {config.ssh}" if config and config.ssh else "",
             f"GPUs from {config.gpus}" if config else ""]
    lines = [host + (f"  ({', '.join(part for part in where if part)})" if any(where) else ""), "", "GPUs"]
    reading = deck.gpus().get(host)
    if reading is not None and reading.gpus:
        lines[-1] += f" (read by {reading.source})"
    lines += [f"  {line}" for line in gpu_lines(reading)]
    lines += ["", "Providers"]
    for name in providers_on(deck.providers, host):
        health = deck.health_of(name)
        status = health.status if health is not None else "probing"
        detail = f": {health.detail}" if health is not None and health.status != "up" and health.detail else ""
        lines.append(f"  {name} ({deck.providers[name].kind}) {status}{detail}")
    return "\n".join(one_line(line) for line in lines)


class HostDetailsScreen(ModalScreen[None]):
    """Esc closes. What it shows is read when it opens."""

    BINDINGS: ClassVar = [Binding("escape,q", "dismiss", "Close", id="details-close")]
    CSS_PATH = "provider_details.tcss"

    def __init__(self, deck: Deck, host: str) -> None:
        super().__init__()
        self.deck = deck
        self.host = host

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(host_text(self.deck, self.host), id="details-body", markup=False)
            yield Static("Esc close", classes="hint")

    def on_mount(self) -> None:
        self.set_focus(self.query_one(VerticalScroll))
