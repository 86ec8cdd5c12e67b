"""A one-pane test app and a bounded wait, for the pane tests."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console.panes.base import DeckPane
from tests.waiting import wait_for_condition


class PaneApp(App[None]):
    """Just the pane under test."""

    def __init__(self, pane: DeckPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield self.pane


async def until(pilot: Pilot[None], condition: Callable[[], object], *, what: str = "condition") -> None:
    """Let the app run until `condition()` holds; the deadline only bounds a hang. Plain asyncio sleeps, not
    pilot.pause: that waits for an idle app, and a busy one is the point."""
    await wait_for_condition(condition, what=what)
