"""Deck events → typed Textual messages, coalesced so a burst of events costs the UI one message per kind.

The bridge owns the coalescing and posts to one target: the app, which hands every attached pane its own copy
(or, in a one-pane test app, the pane itself). The messages do not bubble, so a copy a pane handles never comes
back up to the app that posted it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, Self, TypeVar

from textual.message import Message
from textual.message_pump import MessagePump

from providers.deck import CatalogChanged, Deck, DeckEvent, RequestFinished
from providers.monitor import HealthEvent

FLUSH_INTERVAL_S = 0.1
"""Events arriving within this window are delivered together (≤ 10 UI updates a second from the deck)."""
MAX_PENDING_REQUESTS = 256
"""Finished requests kept between flushes; older ones are dropped (the ledger has them all)."""

EventT = TypeVar("EventT", HealthEvent, RequestFinished, CatalogChanged)


class DeckEvents(Message, Generic[EventT], bubble=False):
    """A batch of deck events of one kind, oldest first. Every subclass says `bubble=False` again: Textual sets
    `bubble` anew for each Message subclass (True unless told)."""

    def __init__(self, events: tuple[EventT, ...]) -> None:
        super().__init__()
        self.events: tuple[EventT, ...] = events

    def copy(self) -> Self:
        """The same events in a message of their own: a message is handled by one widget, so each pane gets one."""
        return type(self)(self.events)


class DeckBridge:
    """Subscribes to a Deck and posts HealthChanged / RequestsFinished / CatalogsChanged to `target`.

    Health events keep only the latest probe per provider, but a status change anywhere in the window survives
    (its `previous` is the status before the window). The listener runs on the event loop, so no locking."""

    class HealthChanged(DeckEvents[HealthEvent], bubble=False):
        """Latest probe of each provider that reported since the last flush."""

    class RequestsFinished(DeckEvents[RequestFinished], bubble=False):
        """Routed chats that ended since the last flush, oldest first."""

    class CatalogsChanged(DeckEvents[CatalogChanged], bubble=False):
        """Providers whose model catalog changed (pull, delete, load, unload)."""

    def __init__(self, deck: Deck, target: MessagePump, *, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.deck = deck
        self.target = target
        self.interval_s = interval_s
        self._health: dict[str, HealthEvent] = {}
        self._finished: deque[RequestFinished] = deque(maxlen=MAX_PENDING_REQUESTS)
        self._catalogs: dict[str, CatalogChanged] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.delivered = 0

    def attach(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.deck.subscribe(self.on_deck_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def on_deck_event(self, event: DeckEvent) -> None:
        if isinstance(event, HealthEvent):
            earlier = self._health.get(event.provider)
            if earlier is not None:
                previous = earlier.previous
                changed = previous is None or previous.status != event.health.status
                event = HealthEvent(event.provider, event.health, previous, changed, event.at)
            self._health[event.provider] = event
        elif isinstance(event, RequestFinished):
            self._finished.append(event)
        else:
            self._catalogs[event.provider] = event
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(self.interval_s, self.flush)

    def flush(self) -> None:
        """Post what is pending now (also called by the timer)."""
        self._flush_handle = None
        if self._health:
            self.target.post_message(self.HealthChanged(tuple(self._health.values())))
            self._health = {}
        if self._finished:
            self.target.post_message(self.RequestsFinished(tuple(self._finished)))
            self._finished.clear()
        if self._catalogs:
            self.target.post_message(self.CatalogsChanged(tuple(self._catalogs.values())))
            self._catalogs = {}
        self.delivered += 1
