"""A tiny app that mounts one pane over a Deck (as the console does), for the Models and Graphs pane tests."""

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
    """The pane fills the screen above a footer; deck events reach `pane.deck_event`, as in the console."""

    def __init__(self, deck: Deck, pane: DeckPane) -> None:
        super().__init__()
        self.deck = deck
        self.pane = pane
        self._unsubscribe: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield self.pane
        yield Footer()

    def on_mount(self) -> None:
        self._unsubscribe = self.deck.subscribe(self.pane.deck_event)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()


async def wait_until(pilot: Pilot[Any], condition: Callable[[], object], *, timeout_s: float = HANG_S,
                     what: str = "condition") -> None:
    """Let the app run until `condition()` holds; the deadline only bounds a hang."""
    await wait_for_condition(condition, what=what, timeout_s=timeout_s, pause=lambda: pilot.pause(0.02))
