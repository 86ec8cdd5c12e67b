"""The one-pane test app and the bounded waits every pane test uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Footer

from console.panes.base import DeckPane
from providers.deck import Deck
from tests.waiting import HANG_S, wait_for_condition


class PaneApp(App[None]):
    """The pane under test. Given the `deck`, the pane gets its events as in the console (without the coalescing
    bridge) and a footer below it shows the pane's keys."""

    def __init__(self, pane: DeckPane, *, deck: Deck | None = None) -> None:
        super().__init__()
        self.pane = pane
        self.deck = deck
        self._unsubscribe: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield self.pane
        if self.deck is not None:
            yield Footer()

    def on_mount(self) -> None:
        if self.deck is not None:
            self._unsubscribe = self.deck.subscribe(self.pane.deck_event)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()


async def until(pilot: Pilot[None], condition: Callable[[], object], *, what: str = "condition") -> None:
    """Let the app run until `condition()` holds; the deadline only bounds a hang. Plain asyncio sleeps, not
    pilot.pause: that waits for an idle app, and a busy one is the point."""
    await wait_for_condition(condition, what=what)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], object], *, timeout_s: float = HANG_S,
                     what: str = "condition") -> None:
    """Let the app run until `condition()` holds, pausing the pilot between looks; the deadline bounds a hang."""
    await wait_for_condition(condition, what=what, timeout_s=timeout_s, pause=lambda: pilot.pause(0.02))
