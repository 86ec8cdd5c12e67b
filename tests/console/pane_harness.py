"""The one-pane test app and the bounded waits every pane test uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Footer

from console.bridge import DeckBridge
from console.panes import PANES_CSS
from console.panes.base import CLOCK_S, DeckPane
from providers.deck import Deck
from tests.waiting import HANG_S, wait_for_condition


class PaneApp(App[None]):
    """The pane under test, styled by the panes' stylesheet as in the console. Given the `deck`, the pane gets its
    deck messages as in the console (a DeckBridge posting to it) and a footer below it shows the pane's keys. The
    clock ticks every `clock_s` and syncs the pane when it `needs_clock()`, as the console's does."""

    CSS_PATH = PANES_CSS

    def __init__(self, pane: DeckPane, *, deck: Deck | None = None, clock_s: float = CLOCK_S) -> None:
        super().__init__()
        self.pane = pane
        self.deck = deck
        self.clock_s = clock_s
        self.clock_ticks = 0
        self.bridge = DeckBridge(deck, pane) if deck is not None else None

    def compose(self) -> ComposeResult:
        yield self.pane
        if self.deck is not None:
            yield Footer()

    def on_mount(self) -> None:
        if self.bridge is not None:
            self.bridge.attach()
        self.set_interval(self.clock_s, self.clock_tick)

    def clock_tick(self) -> None:
        self.clock_ticks += 1
        if self.pane.display and self.pane.needs_clock():
            self.pane.sync()

    def on_unmount(self) -> None:
        if self.bridge is not None:
            self.bridge.detach()


async def until(pilot: Pilot[None], condition: Callable[[], object], *, what: str = "condition") -> None:
    """Let the app run until `condition()` holds; the deadline only bounds a hang. Plain asyncio sleeps, not
    pilot.pause: that waits for an idle app, and a busy one is the point."""
    await wait_for_condition(condition, what=what)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], object], *, timeout_s: float = HANG_S,
                     what: str = "condition") -> None:
    """Let the app run until `condition()` holds, pausing the pilot between looks; the deadline bounds a hang."""
    await wait_for_condition(condition, what=what, timeout_s=timeout_s, pause=lambda: pilot.pause(0.02))
