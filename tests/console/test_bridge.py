"""The bridge coalesces bursts of deck events into one message per kind, keeping status changes; its messages
copy for each pane and do not bubble."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.message import Message
from textual.widget import Widget

from config.schema import DeckConfig
from console.bridge import DeckBridge
from providers.base import Health
from providers.deck import CatalogChanged, Deck, RequestFinished
from providers.monitor import HealthEvent
from tests.waiting import wait_for_condition


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    def post_message(self, message: Message) -> bool:
        self.messages.append(message)
        return True


def _event(provider: str, status: str, previous: str | None, latency: float) -> HealthEvent:
    before = Health(previous) if previous else None  # type: ignore[arg-type]
    return HealthEvent(provider, Health(status, latency), before, previous != status, 0.0)  # type: ignore[arg-type]


async def test_a_burst_becomes_one_message_per_kind_with_status_changes_kept(tmp_path: Path) -> None:
    deck = Deck(DeckConfig(), tmp_path)
    inbox = Inbox()
    bridge = DeckBridge(deck, inbox, interval_s=0.05)  # type: ignore[arg-type]
    bridge.on_deck_event(_event("a", "down", "up", 1.0))  # a change…
    for index in range(200):
        bridge.on_deck_event(_event("a", "down", "down", float(index)))  # …then no change, many times
        bridge.on_deck_event(_event("b", "up", "up", float(index)))
        bridge.on_deck_event(RequestFinished("chat", None, (), 0.0, None))
    bridge.on_deck_event(CatalogChanged("a"))
    bridge.on_deck_event(CatalogChanged("a"))
    assert inbox.messages == []  # nothing until the window closes
    await wait_for_condition(lambda: len(inbox.messages) >= 3, what="the window to close")
    kinds = [type(m) for m in inbox.messages]
    assert kinds == [DeckBridge.HealthChanged, DeckBridge.RequestsFinished, DeckBridge.CatalogsChanged]
    health = {e.provider: e for e in inbox.messages[0].events}  # type: ignore[attr-defined]
    assert health["a"].changed and health["a"].previous is not None and health["a"].previous.status == "up"
    assert health["a"].health.latency_ms == 199.0  # the latest probe
    assert not health["b"].changed
    assert len(inbox.messages[1].events) == 200  # type: ignore[attr-defined]
    assert [e.provider for e in inbox.messages[2].events] == ["a"]  # type: ignore[attr-defined]
    await deck.client.aclose()


class Listener(Widget):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[DeckBridge.CatalogsChanged] = []

    def on_deck_bridge_catalogs_changed(self, message: DeckBridge.CatalogsChanged) -> None:
        self.got.append(message)


class Forwarder(App[None]):
    """What the console app does with a bridge message: a copy to each child, which must not come back up."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[DeckBridge.CatalogsChanged] = []
        self.listeners = [Listener(), Listener()]

    def compose(self) -> ComposeResult:
        yield from self.listeners

    def on_deck_bridge_catalogs_changed(self, message: DeckBridge.CatalogsChanged) -> None:
        self.got.append(message)
        for listener in self.listeners:
            listener.post_message(message.copy())


async def test_each_pane_gets_its_own_copy_and_no_copy_bubbles_back_to_the_app() -> None:
    app = Forwarder()
    async with app.run_test() as pilot:
        events = (CatalogChanged("a"),)
        app.post_message(DeckBridge.CatalogsChanged(events))
        await wait_for_condition(lambda: all(listener.got for listener in app.listeners), what="both copies")
        await pilot.pause()
        first, second = (listener.got for listener in app.listeners)
        assert len(first) == len(second) == 1 and first[0] is not second[0]
        assert first[0].events is events and second[0].events is events
        assert len(app.got) == 1, "a copy bubbled back to the app"
