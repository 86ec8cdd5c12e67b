"""`?`: every key that works right now (from the live bindings, so remapped keys show as remapped) and the
`:` commands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

from console.screens.command_line import CommandSpec


@dataclass(frozen=True, slots=True)
class HelpEntry:
    section: str
    key: str
    description: str
    binding_id: str | None


def _section(node: DOMNode, app: App[object]) -> str:
    if node is app:
        return "Global"
    for ancestor in node.ancestors_with_self:
        title = getattr(ancestor, "PANE_TITLE", "")
        if title:
            return f"{title} pane"
    return type(node).__name__


def live_entries(app: App[Any]) -> list[HelpEntry]:
    """The bindings active on the current screen (focused widget, its pane, the app), enabled ones only."""
    entries: list[HelpEntry] = []
    for key, active in app.screen.active_bindings.items():
        binding = active.binding
        if not active.enabled or binding.system:
            continue
        description = binding.description or binding.action.replace("_", " ")
        key_text = app.get_key_display(binding) if binding.key == key else app.get_key_display(
            binding.with_key(key, None))
        entries.append(HelpEntry(_section(active.node, app), key_text, description, binding.id))
    order = {"Global": 0}
    return sorted(entries, key=lambda e: (order.get(e.section, 1), e.section))


def help_text(entries: Sequence[HelpEntry], commands: Sequence[CommandSpec]) -> str:
    """Each key with what it does and its binding id: the name `ui.keys` remaps it by."""
    lines = [f"  {'key':<12} {'does':<26} id (ui.keys)"]
    section = None
    for entry in entries:
        if entry.section != section:
            lines += ["", entry.section]
            section = entry.section
        lines.append(f"  {entry.key:<12} {entry.description:<26} {entry.binding_id or ''}".rstrip())
    lines += ["", "Commands (press : then Tab completes)"]
    lines += [f"  {command.usage:<30} {command.help}" for command in commands]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    """Esc or ? closes."""

    BINDINGS: ClassVar = [Binding("escape,question_mark,q", "dismiss", "Close", id="help-close")]
    CSS_PATH = "help.tcss"

    def __init__(self, entries: Sequence[HelpEntry], commands: Sequence[CommandSpec]) -> None:
        super().__init__()
        self.entries = list(entries)
        self.commands = list(commands)

    def compose(self) -> ComposeResult:
        with Vertical():
            with VerticalScroll():
                yield Static(help_text(self.entries, self.commands), id="help-body", markup=False)
            yield Static("Esc close", classes="hint")

    def on_mount(self) -> None:
        self.set_focus(self.query_one(VerticalScroll))
