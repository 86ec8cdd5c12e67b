"""PullDialog: asks which provider should pull which model; returns the choice or None."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select


@dataclass(frozen=True, slots=True)
class PullChoice:
    provider: str
    model: str


class PullDialog(ModalScreen[PullChoice | None]):
    """Provider (defaulting to the selected row's) and model name; Enter in the name field submits."""

    CSS_PATH = "pull_dialog.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="pull-dialog-cancel")]

    def __init__(self, providers: list[str], provider: str, model: str = "") -> None:
        super().__init__()
        self.providers = providers
        self.provider = provider if provider in providers else providers[0]
        self.model = model

    def compose(self) -> ComposeResult:
        with Vertical(id="pull-box"):
            yield Label("Pull a model", id="pull-title")
            yield Select([(name, name) for name in self.providers], value=self.provider, allow_blank=False,
                         id="pull-provider")
            yield Input(self.model, placeholder="model name, e.g. llama3.2:1b", id="pull-model")
            with Horizontal(id="pull-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Pull…", id="pull", variant="primary")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#pull-model", Input))

    def _choice(self) -> PullChoice | None:
        model = self.query_one("#pull-model", Input).value.strip()
        provider = self.query_one("#pull-provider", Select).value
        if not model or not isinstance(provider, str):
            return None
        return PullChoice(provider, model)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "pull":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        choice = self._choice()
        if choice is None:
            self.notify("Type the name of the model to pull.", severity="warning")
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)
