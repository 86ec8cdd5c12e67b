"""Session options: `--readonly` hides and refuses destructive actions everywhere; `ui.keys` remaps keys."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from config.schema import UiConfig
from console.app import DeckApp
from console.panes.base import DeckPane
from console.screens.keys import KeysScreen
from console.shell_commands import DeckCommandProvider
from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import screen_text, started_deck

DESTRUCTIVE = ("delete", "unload", "restart", "pull", "load", "switch")


async def test_readonly_hides_destructive_bindings_and_commands(deck: Deck) -> None:
    app = DeckApp(deck, readonly=True)
    async with app.run_test(size=(100, 30)) as pilot:
        # through every pane and back to health (in the Images form Tab walks the fields: Esc, then a digit)
        for keys in [("tab",)] * 5 + [("escape", "1")]:
            await pilot.press(*keys)
            await pilot.pause()
            # the panes' own actions (a text field's delete_left is editing, not a destructive operation)
            actions = [active.binding.action for active in app.screen.active_bindings.values()
                       if isinstance(active.node, DeckPane | DeckApp)]
            assert not [a for a in actions if a.split("_")[0] in DESTRUCTIVE], (app.current_pane, actions)
        assert "pull" not in [c.name for c in app.shell.commands]
        await app.shell.execute(":pull local-ollama llama3.2:1b")
        await pilot.pause()
        assert any("read-only" in str(n.message) for n in app._notifications)
        entries = DeckCommandProvider(app.screen)._entries()
        assert not [e for e in entries if "pull" in e[0]]
        assert "READ-ONLY" in screen_text(app)
        await app.shell.execute(":keys")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysScreen) and app.screen.focused is not None,
                         what="keys modal")
        assert not app.screen.query(Input) and not app.screen.query("#key-delete")  # list only: no set, no delete


async def test_remapped_keys_work_and_help_shows_them(lab: Lab, tmp_path: Path) -> None:
    config = lab.config.model_copy(update={"ui": UiConfig(keys={"pane-routes": "f4", "routes-test-fire": "x"})})
    remapped = await started_deck(config, tmp_path / "data")
    try:
        app = DeckApp(remapped)
        async with app.run_test(size=(100, 40)) as pilot:
            await pilot.press("4")
            assert app.current_pane == "health"  # 4 is no longer bound
            await pilot.press("f4")
            assert app.current_pane == "routes"
            await pilot.press("question_mark")
            text = str(app.screen.query_one("#help-body").render())
            assert "f4" in text
            # each key names its binding id, the name ui.keys remaps it by
            test_route = next(line for line in text.splitlines() if "Test route" in line)
            assert test_route.split() == ["x", "Test", "route", "routes-test-fire"]
            assert any(line.split()[-1:] == ["pane-routes"] for line in text.splitlines() if "f4" in line)
    finally:
        await remapped.stop()
