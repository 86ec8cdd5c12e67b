"""What every pane is: a container over the Deck that renders state and sends intents."""

from __future__ import annotations

from typing import ClassVar

from textual.containers import Vertical
from textual.widget import Widget

from providers.deck import Deck, DeckEvent


class DeckPane(Vertical):
    """Base of the six panes.

    The app creates each pane once with the running Deck, forwards every DeckEvent to `deck_event` (on the UI
    thread), calls `refresh_now` on ctrl+r and `apply_filter` for `/`. A pane that is not visible keeps its
    state up to date but should not re-render until `on_show`.
    """

    PANE_ID: ClassVar[str] = ""
    PANE_TITLE: ClassVar[str] = ""
    FOCUS: ClassVar[str] = ""
    """Selector of the widget that takes the keyboard whenever the pane is shown (its table, its prompt)."""

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(id=f"pane-{self.PANE_ID}")
        self.deck = deck
        self.readonly = readonly

    def focus_target(self) -> Widget | None:
        """The widget to focus on arrival: `FOCUS` if it can take the focus, else the first widget that can."""
        if self.FOCUS:
            widget = self.query_one(self.FOCUS)
            if widget.focusable:
                return widget
        return next((w for w in self.query("*") if isinstance(w, Widget) and w.focusable and self._shown(w)), None)

    def _shown(self, widget: Widget) -> bool:
        """Displayed, and so are its containers up to this pane (a hidden queue's table is not)."""
        node: Widget | None = widget
        while node is not None and node is not self:
            if not node.display:
                return False
            node = node.parent if isinstance(node.parent, Widget) else None
        return True

    def deck_event(self, event: DeckEvent) -> None:
        """A deck event arrived; update state (cheaply)."""

    def refresh_now(self) -> None:
        """ctrl+r: fetch fresh data now."""

    def apply_filter(self, text: str) -> None:
        """`/`: substring filter of the pane's table; a leading `!` inverts it; empty clears it."""


class SyncedPane(DeckPane):
    """A pane that renders by `sync()`: on mount, when shown, and every second while visible (countdowns such as
    breaker cooldowns move with time alone; a hidden pane does not render)."""

    def sync(self) -> None:
        """Bring the widgets up to date with the deck's state."""

    def on_mount(self) -> None:
        self.sync()
        self.set_interval(1.0, self._tick)

    def on_show(self) -> None:
        self.sync()

    def _tick(self) -> None:
        if self.display:
            self.sync()
