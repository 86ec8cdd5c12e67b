"""`y` copies the selected thing with OSC 52 — the provider URL, the model name, the image path, the call a
confirmation shows, a chat answer — and says where it went; text over the bound is refused, not sent. Inside tmux
the sequence is also passed through. (The bytes on a real terminal: tests/terminal/test_copy_and_sort.py.)"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Select, Static

from console.app import DeckApp
from console.clipboard import OSC52_LIMIT_BYTES, SENT, clipboard_writes, osc52, tmux_passthrough
from console.panes.chat import ChatPane
from console.panes.health import HealthPane
from console.panes.images import ImagesPane
from console.panes.models import ModelsPane
from console.screens.confirm import ConfirmDialog
from console.widgets.prompt_area import PromptArea
from providers.deck import Deck
from tests.console.pane_harness import PaneApp, until, wait_until
from tests.console.test_chat_pane import VLLM, send, settled
from tests.console.test_images_pane import fill, status
from tests.console.test_models_pane import OLLAMA, select, started
from tests.console.test_snapshots_shell import frozen_deck


def notes(app: App[None]) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def test_the_sequences_are_osc_52_and_its_tmux_passthrough() -> None:
    assert osc52("hé ✓") == "\x1b]52;c;" + base64.b64encode("hé ✓".encode()).decode() + "\a"
    assert osc52("x") == "\x1b]52;c;eA==\a"
    assert tmux_passthrough(osc52("x")) == "\x1bPtmux;\x1b\x1b]52;c;eA==\a\x1b\\"
    assert clipboard_writes("x", {}) == ["\x1b]52;c;eA==\a"]
    assert clipboard_writes("x", {"TMUX": "/tmp/tmux-0/default,1,0"}) == [
        "\x1b]52;c;eA==\a", "\x1bPtmux;\x1b\x1b]52;c;eA==\a\x1b\\"]


async def test_health_y_writes_the_provider_url_to_the_terminal_and_passes_it_through_tmux(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMUX", "/tmp/tmux-1000/default,4242,0")
    app = DeckApp(frozen_deck(tmp_path))
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.panes["health"]
        assert isinstance(pane, HealthPane)
        await wait_until(pilot, lambda: "gpu-vllm" in pane.table.keys, what="the health rows")
        driver = app._driver
        assert driver is not None
        written: list[str] = []
        write = driver.write

        def record(data: str) -> None:  # what the driver is handed, passed on unchanged
            written.append(data)
            write(data)

        driver.write = record  # type: ignore[method-assign]
        pane.table.move_cursor(row=pane.table.keys.index("gpu-vllm"))
        await pilot.press("y")
        url = "http://127.0.0.1:9"
        assert app.clipboard == url
        assert [data for data in written if "52;c;" in data] == [osc52(url), tmux_passthrough(osc52(url))]
        assert f"URL of gpu-vllm “{url}” {SENT}." in notes(app)

        pane.table.move_cursor(row=pane.table.keys.index("host:gpu1"))  # a host line: nothing to copy
        await pilot.press("y")
        assert "No provider selected." in notes(app)
        assert len([data for data in written if "52;c;" in data]) == 2


async def test_models_y_copies_the_model_name(lab_deck: Deck) -> None:
    pane = ModelsPane(lab_deck)
    app = PaneApp(pane, deck=lab_deck)
    async with app.run_test(size=(120, 30)) as pilot:
        await started(pilot, pane)
        select(pane, OLLAMA, "mistral:7b")
        await pilot.press("y")
        assert app.clipboard == "mistral:7b"
        assert f"Model name “mistral:7b” {SENT}." in notes(app)


class DialogHost(App[None]):
    def __init__(self, dialog: ConfirmDialog) -> None:
        super().__init__()
        self.dialog = dialog

    def compose(self) -> ComposeResult:
        yield Static("behind the dialog")

    def on_mount(self) -> None:
        self.push_screen(self.dialog)


async def test_a_confirmation_copies_its_call_and_stays_open() -> None:
    call = "ssh box2 systemctl --user restart 'vllm [gpu0]'"
    app = DialogHost(ConfirmDialog("Restart box-vllm?", call, "Streams in flight break.", "Restart"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("y")
        assert app.clipboard == call
        assert isinstance(app.screen, ConfirmDialog), "copying answers nothing"
        assert f"{SENT}." in notes(app)


async def test_text_over_the_bound_is_not_sent_and_the_message_says_it_is_too_long() -> None:
    call = "x" * (OSC52_LIMIT_BYTES + 1)
    app = DialogHost(ConfirmDialog("Run it?", call, "huge", "Run"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("y")
        assert app.clipboard == ""
        assert "The call is too long to copy (100 kB; a terminal takes at most 100 kB" in notes(app)
        assert SENT not in notes(app)


async def test_chat_y_copies_the_last_answer_or_the_focused_one(lab_deck: Deck) -> None:
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target(VLLM)
        await send(pilot, pane, "first question")
        first = await settled(pilot, pane)
        await send(pilot, pane, "second question")
        last = await settled(pilot, pane)
        assert first.source != last.source

        pane.query_one("#chat-target", Select).focus()  # out of the prompt, where `y` is a letter
        await pilot.press("y")
        assert pilot.app.clipboard == last.source
        assert "Answer “" in notes(pilot.app) and SENT in notes(pilot.app)

        first.focus()  # an answer clicked: that one
        await pilot.press("y")
        assert pilot.app.clipboard == first.source

        prompt = pane.query_one("#chat-prompt", PromptArea)
        prompt.focus()
        await pilot.press("y")
        assert pilot.app.clipboard == first.source and prompt.text.endswith("y"), "in the prompt `y` is typed"


async def test_images_y_copies_the_saved_image_path(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        pane.query_one("#images-backend", Select).focus()
        await pilot.press("y")
        assert "No image saved yet" in notes(pilot.app) and pilot.app.clipboard == ""
        await fill(pilot, pane, backend="cloud", prompt="a logo", steps=20)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: not pane.running and (pane.saved_path is not None or "✗" in status(pane)))
        assert pane.saved_path is not None, status(pane)
        pane.query_one("#images-backend", Select).focus()
        await pilot.press("y")
        assert pilot.app.clipboard == str(pane.saved_path)
        pane.query_one("#images-prompt", Input).focus()
        await pilot.press("y")
        assert pane.query_one("#images-prompt", Input).value.endswith("y"), "in a text field `y` is typed"
