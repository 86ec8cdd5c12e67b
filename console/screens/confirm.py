"""ConfirmDialog: the modal before every destructive action, showing the exact call and its impact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from console.clipboard import copy_text
from providers.safe_text import one_line, terminal_safe


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True only when Confirm is pressed; Cancel has the focus, Esc cancels."""

    CSS_PATH = "confirm.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm-cancel"),
        Binding("left,right", "switch_button", "Other button", show=False, id="confirm-switch"),
        Binding("y", "copy_call", "Copy call", id="copy"),
    ]

    def __init__(self, title: str, call: str, impact: str, confirm_label: str = "Delete") -> None:
        super().__init__()
        self.dialog_title = title
        self.call = call
        self.impact = impact
        self.confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            # markup=False and terminal-safe: a title, call or argv holds model names and server text.
            yield Label(one_line(self.dialog_title), id="confirm-title", markup=False)
            yield Static(terminal_safe(self.call), id="confirm-call", markup=False)
            yield Static(terminal_safe(self.impact), id="confirm-impact", markup=False)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.confirm_label, id="confirm", variant="error")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#cancel", Button))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_switch_button(self) -> None:
        self.focus_next(Button)

    def action_copy_call(self) -> None:
        """`y`: the call exactly as shown (to run it by hand, or paste it into a ticket); the dialog stays."""
        copy_text(self.app, self.call, "call")


class QuitDialog(ConfirmDialog):
    """Ctrl-Q while work is running: what quitting stops, Cancel focused. Ctrl-Q again quits (the app's key)."""

    def __init__(self, running: Sequence[str]) -> None:
        count = f"{len(running)} jobs are" if len(running) != 1 else "a job is"
        super().__init__(f"Quit while {count} running?", "\n".join(running),
                         "Quitting stops them: a pull is cancelled, an image job is abandoned, a chat reply stops "
                         "(what arrived is kept in its session). Ctrl-Q again quits; Esc or Cancel stays.",
                         confirm_label="Quit")
