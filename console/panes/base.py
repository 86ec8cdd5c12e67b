"""What every pane is: a container over the Deck that renders state and sends intents.

Who owns what: the app owns the message flow and the clock. It hands every attached pane its own copy of each
deck message (DeckBridge.HealthChanged / RequestsFinished / CatalogsChanged, handled by `on_deck_bridge_*`
methods), and once a second asks the shown pane `needs_clock()`, calling `sync()` only when it says yes. A pane
owns its state and its rendering: what a message changes, whether that is drawn now or on the next tick, and what
on screen moves with time alone.
"""

from __future__ import annotations

from typing import ClassVar

from textual.containers import Vertical
from textual.reactive import var
from textual.widget import Widget

from providers.deck import Deck

CLOCK_S = 1.0
"""The app's clock: how often the shown pane is asked whether something it shows moves with time alone."""


class DeckPane(Vertical):
    """Base of the six panes.

    The app creates each pane once with the running Deck, delivers deck messages to it (on the UI thread), calls
    `refresh_now` on ctrl+r and sets `filter_text` for `/` (through `apply_filter`). A pane that is not visible
    keeps its state up to date but should not re-render until `on_show`.
    """

    PANE_ID: ClassVar[str] = ""
    PANE_TITLE: ClassVar[str] = ""
    FOCUS: ClassVar[str] = ""
    """Selector of the widget that takes the keyboard whenever the pane is shown (its table, its prompt)."""

    filter_text: var[str] = var("", init=False)
    """`/`: substring filter of the pane's table; a leading `!` inverts it; empty clears it. A pane that filters
    re-renders in `watch_filter_text`; the others ignore it."""

    host: var[str | None] = var(None, init=False)
    """`:host NAME` / `--host NAME`: the pane shows only that host's providers; None shows every one. Set by the
    app on every pane; a pane that lists providers re-renders in `watch_host`."""

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

    def in_context(self, provider: str) -> bool:
        """Whether `provider` is on the chosen host (always, when no host is chosen)."""
        if self.host is None:
            return True
        config = self.deck.providers.get(provider)
        return config is not None and config.host == self.host

    def refresh_now(self) -> None:
        """ctrl+r: fetch fresh data now."""

    def running_work(self) -> list[str]:
        """What quitting would stop (a pull, an image, a streaming reply), one line each; Ctrl-Q asks first when
        any pane has some."""
        return []

    def apply_filter(self, text: str) -> None:
        """`/`: set the filter (its watcher, where the pane has one, re-renders)."""
        self.filter_text = text

    def needs_clock(self) -> bool:
        """Whether the next clock tick must `sync()` the pane: something shown moves with time alone (a breaker's
        countdown), or a change waits for the tick. An idle pane says no, and the tick costs it nothing."""
        return False

    def sync(self) -> None:
        """Bring the widgets up to date with the deck's state (only what changed is redrawn)."""


class SyncedPane(DeckPane):
    """A pane that renders by `draw()`, called through `sync()`: when shown, once after the deck messages that
    changed what it shows (one sync however many of a flush's messages did), and on the clock's tick when
    `needs_clock()` says so. A hidden pane does not render: it only notes that it is behind."""

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        self.changed = False
        """The deck changed something the pane shows since the last sync."""
        self.syncs = 0
        """How many times the pane has rendered (an idle pane's count stays put)."""
        self._sync_queued = False

    def draw(self) -> None:
        """Render the deck's state into the widgets, touching only what changed."""

    def sync(self) -> None:
        if not self.is_mounted:
            return
        self.changed = False
        self.syncs += 1
        self.draw()

    def deck_changed(self, *, now: bool = True) -> None:
        """A deck message changed what the pane shows. `now`: drawn once the messages already queued are handled
        (the rest of the same flush), if the pane is shown; otherwise on the clock's next tick (or on show)."""
        self.changed = True
        if now and self.display and not self._sync_queued:
            self._sync_queued = True
            self.call_later(self._sync_changes)

    def _sync_changes(self) -> None:
        self._sync_queued = False
        if self.changed and self.display:
            self.sync()

    def needs_clock(self) -> bool:
        return self.changed

    def on_show(self) -> None:
        self.sync()

    def watch_filter_text(self) -> None:
        self.sync()

    def watch_host(self) -> None:
        if self.display:
            self.sync()
        else:
            self.changed = True  # drawn when shown: narrowing every pane costs only the visible one
