"""ChatSettingsDialog: the system prompt and parameters (max tokens, temperature) of a chat session."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from providers.chat_settings import ChatSettings, ChatSettingsError, parse_settings


class ChatSettingsDialog(ModalScreen[ChatSettings | None]):
    """Dismisses with the new settings on Save (ctrl+s), None on Esc or Cancel."""

    CSS_PATH = "chat_settings.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="chat-settings.cancel"),
        Binding("ctrl+s", "save", "Save", id="chat-settings.save"),
    ]

    def __init__(self, settings: ChatSettings) -> None:
        super().__init__()
        self.settings = settings

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-box"):
            yield Label("System prompt · ctrl+s saves · esc cancels")
            yield TextArea(self.settings.system_prompt, id="settings-system", soft_wrap=True)
            with Horizontal(classes="settings-row"):
                yield Input(str(self.settings.max_tokens or ""), placeholder="max tokens (default)",
                            id="settings-max-tokens", type="integer")
                yield Input("" if self.settings.temperature is None else f"{self.settings.temperature:g}",
                            placeholder="temperature (default)", id="settings-temperature", type="number")
            yield Static("", id="settings-error", markup=False)
            with Horizontal(id="settings-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#settings-max-tokens", Input).border_title = "max tokens"
        self.query_one("#settings-temperature", Input).border_title = "temperature (0–2)"
        self.set_focus(self.query_one("#settings-system", TextArea))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def action_save(self) -> None:
        try:
            settings = parse_settings(self.query_one("#settings-system", TextArea).text,
                                      self.query_one("#settings-max-tokens", Input).value,
                                      self.query_one("#settings-temperature", Input).value)
        except ChatSettingsError as exc:
            self.query_one("#settings-error", Static).update(str(exc))
            return
        self.dismiss(settings)

    def action_cancel(self) -> None:
        self.dismiss(None)
