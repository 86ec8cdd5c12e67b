"""`:keys`: a key is stored and deleted through the keyring; the screen only ever shows its masked tail."""

from __future__ import annotations

import keyring

from config.secrets import get_key
from console.app import DeckApp
from console.screens.keys import KeysScreen
from providers.deck import Deck
from tests.console.pane_harness import wait_until
from tests.console.shell_harness import screen_text


async def test_keys_modal_stores_a_key_showing_only_its_masked_tail(deck: Deck) -> None:
    secret = "sk-test-0123456789-abcdefWXYZ"
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.shell.execute(":keys")
        await wait_until(pilot, lambda: isinstance(app.screen, KeysScreen) and app.screen.focused is not None,
                         what="keys modal, name field focused")
        await pilot.press(*"lab-test", "tab", *secret, "enter")
        await wait_until(pilot, lambda: "stored key lab-test" in screen_text(app), what="stored")
        shown = screen_text(app)
        assert secret not in shown and secret[:12] not in shown
        assert "WXYZ" in shown  # the masked tail
        assert app.screen.query_one("#key-secret").value == ""  # type: ignore[attr-defined]
        assert get_key("lab-test", backend=keyring.get_keyring()) == secret
        await pilot.press("ctrl+d")
        assert "delete key lab-test?" in screen_text(app)  # asks first
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: "deleted key lab-test" in screen_text(app), what="deleted")
        assert get_key("lab-test", backend=keyring.get_keyring()) is None
        assert get_key("demo-anthropic", backend=keyring.get_keyring())  # and nothing else
