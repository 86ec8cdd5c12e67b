"""`did you mean`: a mistyped command, provider, alias or model is answered with the nearest known one."""

from __future__ import annotations

from textual.pilot import Pilot

from console.app import DeckApp
from console.screens.command_line import closest, unknown_name
from providers.deck import Deck
from tests.console.pane_harness import wait_until


def notified(app: DeckApp, text: str) -> bool:
    return any(text in str(notification.message) for notification in app._notifications)


async def said(pilot: Pilot[None], app: DeckApp, text: str) -> None:
    """Wait for a notification saying `text` (a notification is posted, then shown)."""
    await wait_until(pilot, lambda: notified(app, text), what=repr(text))


async def test_mistyped_commands_and_names_suggest_the_nearest(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("colon", *"modles", "enter")
        await said(pilot, app, "unknown command :modles — did you mean :models?")
        assert app.current_pane == "health", "a mistyped command runs nothing"

        await app.shell.execute(":pull local-olama llama3.2:1b")
        await said(pilot, app, "unknown provider 'local-olama' — did you mean local-ollama?")
        await app.shell.execute(":route chta")
        await said(pilot, app, "unknown alias 'chta' — did you mean chat?")
        await app.shell.execute(":chat box-vlm/meta-llama/Llama-3.1-8B-Instruct")
        await said(pilot, app, "unknown provider 'box-vlm' — did you mean box-vllm?")
        await app.shell.execute(":chat box-vllm/meta-llama/Llama-3.1-8B-Instuct")  # the catalog is asked
        await said(pilot, app, "unknown model at box-vllm 'meta-llama/Llama-3.1-8B-Instuct' — did you mean "
                                   "meta-llama/Llama-3.1-8B-Instruct?")
        await app.shell.execute(":chat fsat")
        await said(pilot, app, "unknown target 'fsat' — did you mean fast?")
        await app.shell.execute(":chat box-vlm")
        await said(pilot, app, "unknown target 'box-vlm' — did you mean box-vllm/MODEL?")
        assert app.current_pane == "health", "no wrong target reaches the chat pane"

        before = len(app._notifications)
        await app.shell.execute(":chat box-vllm/meta-llama/Llama-3.1-8B-Instruct")
        await wait_until(pilot, lambda: app.current_pane == "chat", what="the chat pane on a real target")
        await pilot.pause()
        assert len(app._notifications) == before, "a target that exists is not questioned"


def test_nothing_near_lists_the_known_names() -> None:
    assert closest("zzz", ["chat", "fast"]) is None
    assert unknown_name("alias", "zzz", ["chat", "fast"]) == "unknown alias 'zzz' (one of chat, fast)"
    many = [f"p{n}" for n in range(20)]
    assert unknown_name("provider", "zzz", many).endswith("p6, p7, …)")
    assert unknown_name("alias", "zzz", []) == "unknown alias 'zzz'; there is none"
