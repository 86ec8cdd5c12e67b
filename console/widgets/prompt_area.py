"""PromptArea: a multi-line prompt where Enter sends and ctrl+j (or shift+enter) starts a new line."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("ctrl+j", "shift+enter")
"""ctrl+j arrives as a plain line feed, so it works over SSH and in tmux; shift+enter only reaches the app on
terminals that report modified keys (kitty protocol), so it is a bonus, not the documented key."""


class PromptArea(TextArea):
    """Posts `PromptArea.Submitted` on Enter with the text, unless it is blank."""

    DEFAULT_CSS = """
    PromptArea {
        height: auto;
        min-height: 3;
        max-height: 8;
    }
    """

    @dataclass
    class Submitted(Message):
        prompt_area: PromptArea
        text: str

    async def _on_key(self, event: events.Key) -> None:
        # Runs before TextArea._on_key (handlers are dispatched down the MRO until one prevents the default).
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            if self.text.strip():
                self.post_message(self.Submitted(self, self.text))
        elif event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self.replace("\n", start, end, maintain_selection_offset=False)
