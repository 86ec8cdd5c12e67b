"""ChatSettingsDialog: the system prompt and parameters (max tokens, temperature) of a chat session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """How a session asks: None leaves the choice to the backend."""

    system_prompt: str = ""
    max_tokens: int | None = None
    temperature: float | None = None

    def params(self) -> dict[str, object]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature}

    @classmethod
    def from_session(cls, system_prompt: str | None, params: dict[str, object]) -> ChatSettings:
        max_tokens, temperature = params.get("max_tokens"), params.get("temperature")
        return cls(system_prompt or "", int(max_tokens) if isinstance(max_tokens, int | float) else None,
                   float(temperature) if isinstance(temperature, int | float) else None)

    def describe(self) -> str:
        parts = [f"max {self.max_tokens} tok" if self.max_tokens else "max —",
                 f"temp {self.temperature:g}" if self.temperature is not None else "temp —"]
        if self.system_prompt:
            parts.append("system ✓")
        return " · ".join(parts)


class ChatSettingsError(ValueError):
    """A field holds something that is not a valid parameter."""


def parse_settings(system_prompt: str, max_tokens: str, temperature: str) -> ChatSettings:
    """Read the fields; blank means 'backend default'. Raises ChatSettingsError naming the bad field."""
    tokens: int | None = None
    if max_tokens.strip():
        try:
            tokens = int(max_tokens)
        except ValueError:
            raise ChatSettingsError("max tokens must be a whole number") from None
        if tokens <= 0:
            raise ChatSettingsError("max tokens must be positive")
    temp: float | None = None
    if temperature.strip():
        try:
            temp = float(temperature)
        except ValueError:
            raise ChatSettingsError("temperature must be a number such as 0.7") from None
        if not 0.0 <= temp <= 2.0:
            raise ChatSettingsError("temperature must be between 0 and 2")
    return ChatSettings(system_prompt.strip(), tokens, temp)


class ChatSettingsDialog(ModalScreen[ChatSettings | None]):
    """Dismisses with the new settings on Save (ctrl+s), None on Esc or Cancel."""

    DEFAULT_CSS = """
    ChatSettingsDialog {
        align: center middle;
    }
    ChatSettingsDialog > #settings-box {
        width: 90%;
        max-width: 90;
        height: auto;
        max-height: 95%;
        border: thick $primary 60%;
        background: $surface;
        padding: 0 1;
    }
    ChatSettingsDialog #settings-system {
        height: 6;
    }
    ChatSettingsDialog .settings-row {
        height: auto;
    }
    ChatSettingsDialog .settings-row Input {
        width: 1fr;
        border-title-color: $text-muted;
    }
    ChatSettingsDialog #settings-error {
        color: $text-error;
        height: auto;
    }
    ChatSettingsDialog #settings-buttons {
        height: auto;
        align: right middle;
    }
    ChatSettingsDialog Button {
        margin: 0 0 0 2;
    }
    """

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
