"""The Events view in the console: opened by `:events` and by E, Esc back, `/` filter (`!` inverts), following the
newest entry unless moved up, at 80×24, and a hostile error body shown as plain text."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from config.loader import load_config
from console.app import DeckApp
from console.screens.events import EventsScreen, EventsTable
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.router import RouteFailedError
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import screen_text
from tests.hostile.hostile_server import hostile_server
from tests.hostile.terminal_corpus import bad_gateway_routes

HI = ChatRequest(model="", messages=(Message("user", "hi"),), max_tokens=8)


def events_screen(app: DeckApp) -> EventsScreen:
    assert isinstance(app.screen, EventsScreen), type(app.screen).__name__
    return app.screen


def shown_summaries(app: DeckApp) -> list[str]:
    table = events_screen(app).query_one(EventsTable)
    column = [key for key, _ in table.fit].index("summary")
    return [str(table.get_row_at(row)[column]) for row in range(table.row_count)]


def detail_text(app: DeckApp) -> str:
    return str(events_screen(app).query_one("#events-detail", Static).render())


def cursor_seq(app: DeckApp) -> int:
    table = events_screen(app).query_one(EventsTable)
    return table.seqs[table.cursor_row]


async def test_events_opens_by_command_and_by_its_key_at_80x24(deck: Deck) -> None:
    deck.record_config_reload("lab.yaml", changes=["route chat"])
    app = DeckApp(deck)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("colon", *"events", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), what="the Events view")
        await wait_until(pilot, lambda: "reloaded lab.yaml: route chat" in screen_text(app),
                         what="the reload's row")
        text = screen_text(app)
        for shown in ("Events · ", "Time", "Kind", "Subject", "What happened", "config", "Esc back"):
            assert shown in text, shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, EventsScreen), what="back to the panes")
        assert app.current_pane == "health"
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), what="E opens the Events view")
        await pilot.press("E")  # already open: the same view stays, no second one on top
        await pilot.pause()
        assert sum(isinstance(screen, EventsScreen) for screen in app.screen_stack) == 1


async def test_slash_filters_and_bang_inverts(deck: Deck) -> None:
    for name in ("alpha", "beta", "alpha-two"):
        deck.record_config_reload(f"{name}.yaml")
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon", *"events", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), what="the Events view")
        await wait_until(pilot, lambda: any("alpha-two" in s for s in shown_summaries(app)), what="every row")
        await pilot.press("slash", *"alpha")
        await wait_until(pilot, lambda: shown_summaries(app) == ["reloaded alpha.yaml: nothing changed",
                                                                 "reloaded alpha-two.yaml: nothing changed"],
                         what="only the alpha rows")
        await pilot.press("enter")  # the filter stays, the table has the keyboard again
        assert isinstance(app.focused, EventsTable)
        assert "filter alpha" in screen_text(app)
        await pilot.press("slash", "home", "!", "enter")
        await wait_until(pilot, lambda: shown_summaries(app) and not any("alpha" in s for s in shown_summaries(app)),
                         what="the rows without alpha")
        assert "reloaded beta.yaml: nothing changed" in shown_summaries(app)
        await pilot.press("escape")  # clears the filter
        await wait_until(pilot, lambda: len([s for s in shown_summaries(app) if "yaml" in s]) == 3,
                         what="every row again")
        assert isinstance(app.screen, EventsScreen)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, EventsScreen), what="back to the panes")


@pytest.mark.usefixtures("monitor_stopped")  # only this test's entries arrive while it looks
async def test_the_view_follows_new_entries_unless_moved_up(lab_deck: Deck) -> None:
    deck = lab_deck
    deck.record_config_reload("first.yaml")
    deck.record_config_reload("second.yaml")
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon", *"events", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), what="the Events view")
        deck.record_config_reload("third.yaml")
        await wait_until(pilot, lambda: shown_summaries(app)[-1] == "reloaded third.yaml: nothing changed"
                         and cursor_seq(app) == deck.latest_event_seq(), what="the cursor on the newest row")
        await wait_until(pilot, lambda: "file third.yaml" in screen_text(app), what="the newest row's detail")
        await pilot.press("up")
        await wait_until(pilot, lambda: "paused (f follows)" in screen_text(app), what="following paused")
        held = cursor_seq(app)
        deck.record_config_reload("fourth.yaml")
        await wait_until(pilot, lambda: shown_summaries(app)[-1] == "reloaded fourth.yaml: nothing changed",
                         what="the fourth row")
        assert cursor_seq(app) == held
        await pilot.press("f")
        await wait_until(pilot, lambda: cursor_seq(app) == deck.latest_event_seq(), what="following again")
        assert "following" in screen_text(app)


async def test_a_hostile_error_body_shows_as_plain_text(tmp_path: Path) -> None:
    with hostile_server(bad_gateway_routes()) as gateway:
        config = tmp_path / "config.yaml"
        config.write_text(f"providers:\n  - {{name: gateway, kind: ollama, base_url: '{gateway.url}'}}\n"
                          "routes:\n  - {alias: broken, targets: [gateway/m]}\n", encoding="utf-8")
        deck = Deck(load_config(config), tmp_path / "data")
        await deck.start(monitor=False)
        try:
            with pytest.raises(RouteFailedError):
                await deck.chat("broken", HI)
            app = DeckApp(deck)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.press("colon", *"events", "enter")
                await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen), what="the Events view")
                await wait_until(pilot, lambda: "[/x] upstream down" in detail_text(app), what="the error's detail")
                text = screen_text(app)
                cells = shown_summaries(app)
                detail = detail_text(app)
        finally:
            await deck.stop()
    [summary] = cells
    assert summary.startswith("error · server_error · gateway: HTTP 502: <html><head><title>502 Bad Gateway")
    assert "error · server_error · gateway: HTTP 502" in text
    assert "[/x] upstream down</h1>" in detail  # the markup shown as typed, not read
    for shown in (summary, text, detail):
        assert "PWNED" not in shown and "]52;" not in shown and "\x1b" not in shown and "\x07" not in shown


@pytest.mark.usefixtures("monitor_stopped")  # no probe adds a row while the test counts them
async def test_the_events_table_moves_with_the_vim_keys(lab_deck: Deck) -> None:
    deck = lab_deck
    for name in ("one", "two", "three"):
        deck.record_config_reload(f"{name}.yaml")
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("E")
        await wait_until(pilot, lambda: any("three.yaml" in s for s in shown_summaries(app)), what="every row")
        table = app.screen.query_one(EventsTable)
        table.focus()
        last = table.row_count - 1
        await pilot.press("g")
        await wait_until(pilot, lambda: table.cursor_row == 0, what="g: the first row")
        await pilot.press("j")
        await wait_until(pilot, lambda: table.cursor_row == 1, what="j: one down")
        await pilot.press("G")
        await wait_until(pilot, lambda: table.cursor_row == last, what="G: the last row")
        await pilot.press("k")
        await wait_until(pilot, lambda: table.cursor_row == last - 1, what="k: one up")
