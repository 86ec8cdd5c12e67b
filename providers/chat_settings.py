"""How a chat session asks: its system prompt and parameters (max tokens, temperature), and reading them from
text fields. The console's settings dialog and the CLI's `chat` both use it."""

from __future__ import annotations

from dataclasses import dataclass


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
