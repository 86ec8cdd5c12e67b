"""A one-pane test app and a bounded wait, for the pane tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console.panes.base import DeckPane


class PaneApp(App[None]):
    """Just the pane under test."""

    def __init__(self, pane: DeckPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield self.pane


async def until(pilot: Pilot[None], condition: Callable[[], object], *, timeout_s: float = 8.0) -> None:
    """Let the app run until `condition()` holds (bounded)."""
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)  # not pilot.pause: that waits for an idle app, and a busy one is the point
    raise AssertionError("condition not met in time")
