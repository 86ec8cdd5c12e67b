"""ConfirmDialog: Cancel has the focus, Esc and Cancel answer False, only Confirm answers True; text is literal."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, Static

from console.screens.confirm import ConfirmDialog

CALL = "ssh box2 systemctl --user restart 'vllm [gpu0]'"


class Host(App[None]):
    """Pushes one dialog at start and keeps its answer."""

    def __init__(self, dialog: ConfirmDialog) -> None:
        super().__init__()
        self.dialog = dialog
        self.answers: list[bool | None] = []

    def compose(self) -> ComposeResult:
        yield Static("behind the dialog")

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.answers.append)


def dialog() -> ConfirmDialog:
    return ConfirmDialog("Restart box-vllm?", CALL, "[b]Streams[/b] in flight break.", confirm_label="Restart")


async def test_cancel_is_focused_and_the_call_and_impact_are_shown_literally() -> None:
    app = Host(dialog())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"
        assert str(app.screen.query_one("#confirm-call", Static).render()) == CALL
        assert str(app.screen.query_one("#confirm-impact", Static).render()) == "[b]Streams[/b] in flight break."
        assert str(app.screen.query_one("#confirm", Button).label) == "Restart"


@pytest.mark.parametrize(("keys", "answer"), [
    (("enter",), False),            # Enter on the focused Cancel
    (("escape",), False),
    (("tab", "enter"), True),       # to Confirm, then press it
    (("right", "enter"), True),
    (("right", "left", "enter"), False),
])
async def test_only_confirm_answers_true(keys: tuple[str, ...], answer: bool) -> None:
    app = Host(dialog())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        assert app.answers == [answer]
        assert not isinstance(app.screen, ConfirmDialog)


async def test_default_confirm_label_is_delete() -> None:
    app = Host(ConfirmDialog("Delete x?", "DELETE /api/delete", "gone"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert str(app.screen.query_one("#confirm", Button).label) == "Delete"
