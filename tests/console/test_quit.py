"""Ctrl-Q while a pull, an image or a chat reply runs asks first (Cancel focused, the running work listed); Cancel
stays, Ctrl-Q pressed again quits. Idle, it quits at once, and Ctrl-C never asks. (Signals and the real terminal:
tests/terminal/test_leaving.py.)"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Button

from console.app import DeckApp
from console.panes.models import ModelsPane
from console.screens.confirm import QuitDialog
from console.screens.pull_queue import PullJob
from providers.deck import Deck
from providers.emulators.lab import Lab
from tests.console.pane_harness import wait_until
from tests.console.test_models_pane import OLLAMA, started
from tests.console.test_snapshots_shell import frozen_deck
from tests.emulator_control import pulls_held


async def pulling(pilot: Pilot[None], app: DeckApp, model: str) -> PullJob:
    """The Models pane with a pull of `model` running (held by the emulator until the test lets it go)."""
    pane = app.panes["models"]
    assert isinstance(pane, ModelsPane)
    await started(pilot, pane)
    job = pane.pulls.enqueue(OLLAMA, model)
    await wait_until(pilot, lambda: job.status.startswith("pulling "), what="the pull to run")
    return job


async def test_ctrl_q_quits_at_once_when_nothing_runs(tmp_path: Path) -> None:
    app = DeckApp(frozen_deck(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+q")
        assert app.return_code == 0
        assert not isinstance(app.screen, QuitDialog)


async def test_ctrl_q_asks_while_a_pull_runs_cancel_stays_and_ctrl_q_again_quits(lab: Lab, lab_deck: Deck) -> None:
    model = "acme-quit:1b"
    with pulls_held(lab.servers[OLLAMA]):
        app = DeckApp(lab_deck, first_pane="models")
        async with app.run_test(size=(100, 30)) as pilot:
            job = await pulling(pilot, app, model)

            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog), what="the question")
            dialog = app.screen
            assert isinstance(dialog, QuitDialog)
            assert isinstance(app.focused, Button) and app.focused.id == "cancel"
            assert dialog.call.startswith(f"pull {OLLAMA}/{model} (pulling")
            assert dialog.dialog_title == "Quit while a job is running?"
            await pilot.press("enter")  # Cancel
            await wait_until(pilot, lambda: not isinstance(app.screen, QuitDialog), what="the dialog to close")
            assert app.return_code is None and job.state == "pulling"

            await pilot.press("ctrl+q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog), what="the question again")
            await pilot.press("ctrl+q")
            assert app.return_code == 0


async def test_ctrl_c_never_asks(lab: Lab, lab_deck: Deck) -> None:
    with pulls_held(lab.servers[OLLAMA]):
        app = DeckApp(lab_deck, first_pane="models")
        async with app.run_test(size=(100, 30)) as pilot:
            await pulling(pilot, app, "acme-interrupt:1b")
            assert app.running_work()
            await pilot.press("ctrl+c")
            assert app.return_code == 0
            assert not isinstance(app.screen, QuitDialog)


async def test_colon_q_asks_like_ctrl_q_while_a_pull_runs(lab: Lab, lab_deck: Deck) -> None:
    with pulls_held(lab.servers[OLLAMA]):
        app = DeckApp(lab_deck, first_pane="models")
        async with app.run_test(size=(100, 30)) as pilot:
            await pulling(pilot, app, "acme-colon-q:1b")
            await app.shell.execute(":q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitDialog), what="the question")
            assert app.return_code is None
            await pilot.press("ctrl+q")
            assert app.return_code == 0
