"""A stand-in for a pane whose module cannot be loaded, so the console still starts and says why."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from console.panes.base import DeckPane
from providers.deck import Deck


class UnavailablePane(DeckPane):
    """Shows which pane is missing and the reason; it handles no deck message."""

    def __init__(self, deck: Deck, pane_id: str, title: str, reason: str, *, readonly: bool = False) -> None:
        self.PANE_ID = pane_id  # type: ignore[misc]  # per instance: one class stands in for any pane
        self.PANE_TITLE = title  # type: ignore[misc]
        super().__init__(deck, readonly=readonly)
        self.reason = reason

    def compose(self) -> ComposeResult:
        yield Static(f"The {self.PANE_TITLE} pane is not available in this build ({self.reason}).", markup=False)
