"""The console shell over a lab-backed Deck: pane keys, placeholders for missing panes, help from live
bindings, the `/` filter with Esc."""

from __future__ import annotations

from textual.widgets import Input, TextArea

from console.app import DeckApp
from console.panes.unavailable import UnavailablePane
from console.screens.help import HelpScreen
from providers.deck import Deck
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import screen_text


async def test_digit_keys_and_tab_switch_panes(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        for key, pane_id in zip("12345", ("health", "models", "graphs", "routes", "chat"), strict=True):
            await pilot.press(key)
            assert app.current_pane == pane_id
            assert app.panes[pane_id].display
        app.query_one("#chat-prompt").focus()
        await pilot.press("6")  # typing in the chat prompt: a digit is text there
        assert app.current_pane == "chat"
        await pilot.press("tab")  # Tab leaves any pane, even from a text field
        assert app.current_pane == "images"
        await pilot.press("tab")  # but in the Images form it walks the fields, starting at the prompt
        assert app.current_pane == "images" and app.focused is app.query_one("#images-negative")
        await pilot.press("escape", "1")  # out of the field, a digit switches panes
        assert app.current_pane == "health"
        await pilot.press("shift+tab")
        assert app.current_pane == "images"
        await pilot.press("escape", "5", "shift+tab")
        assert app.current_pane == "routes"
        assert sum(pane.display for pane in app.panes.values()) == 1  # only the shown pane is displayed



async def test_esc_leaves_a_text_field_so_pane_keys_work_and_i_types_again(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        prompt = app.query_one("#chat-prompt")
        prompt.focus()
        await pilot.press("h", "i")
        assert app.focused is prompt
        await pilot.press("escape")
        assert app.focused is not prompt
        await pilot.press("i")
        assert app.focused is prompt
        await pilot.press("escape", "4")
        assert app.current_pane == "routes"


async def test_text_fields_keep_a_steady_cursor_so_an_idle_console_draws_nothing(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await wait_until(pilot, lambda: isinstance(app.focused, TextArea), what="the chat prompt focused")
        assert app.focused.cursor_blink is False
        await pilot.press("escape", "6")
        await wait_until(pilot, lambda: isinstance(app.focused, Input), what="the image prompt focused")
        assert app.focused.cursor_blink is False
        await pilot.press("escape", "colon")
        await wait_until(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "command-input",
                         what="the command line focused")
        assert app.focused.cursor_blink is False


async def test_a_missing_pane_module_shows_a_placeholder_and_the_app_still_starts(deck: Deck) -> None:
    panes = (("health", "Health", "console.panes.health:HealthPane"),
             ("models", "Models", "console.panes.not_written_yet:ModelsPane"))
    app = DeckApp(deck, panes=panes)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        assert isinstance(app.panes["models"], UnavailablePane)
        assert "Models pane is not available" in screen_text(app)
        await pilot.press("1")
        assert app.current_pane == "health"


async def test_help_lists_the_live_bindings_of_the_focused_pane(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("4", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-body").render())
        sections = [line for line in text.splitlines() if line and not line.startswith(" ")]
        assert "Routes pane" in sections and "Test route" in text
        assert "Health pane" not in sections  # only what works here and now
        assert ":route ALIAS" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_slash_filter_narrows_the_health_table_and_esc_clears_it(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.panes["health"].table  # type: ignore[attr-defined]
        await pilot.press("slash", *"claude")
        assert [k for k in table.keys if not k.startswith("host:")] == ["claude"]
        assert "filter: claude" in screen_text(app)
        await pilot.press("enter")  # keeps the filter, back to the table
        assert app.filters["health"] == "claude" and not app.filter_input.has_class("open")
        await pilot.press("slash", "home", "exclamation_mark", "enter")
        assert "claude" not in table.keys and "cloud" in table.keys
        await pilot.press("escape")
        assert app.filters["health"] == "" and {"claude", "cloud", "box-vllm"} <= set(table.keys)
