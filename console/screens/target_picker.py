"""TargetPicker: which provider a download should land on, when more than one could take it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from providers.safe_text import one_line


class TargetPicker(ModalScreen[str | None]):
    """One line per provider (`name — where`); Enter picks, Esc cancels (None)."""

    CSS_PATH = "source_browser.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="target-picker-cancel")]

    def __init__(self, title: str, targets: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.picker_title = title
        self.targets = targets

    def compose(self) -> ComposeResult:
        with Vertical(id="target-box"):
            yield Label(one_line(self.picker_title), markup=False)
            yield OptionList(*(Option(Text(one_line(f"{name} — {where}")), id=name) for name, where in self.targets),
                             id="target-options")

    def on_mount(self) -> None:
        self.set_focus(self.query_one(OptionList))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
