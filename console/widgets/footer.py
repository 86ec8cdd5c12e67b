"""The key footer: whole labels only. When they do not all fit, the least important are left out (`?` lists all)."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

LAST = ("refresh_now", "command_palette", "toggle_wide", "cycle_sort", "quit", "filter", "command_line")
"""Left out first, in this order: keys an operator knows or finds in `?`. Help is never left out, and the
focused pane's own keys go only after all of these."""
GAP = 1
"""Cells between two labels in the compact footer."""


def label_width(key_display: str, description: str) -> int:
    return cell_len(key_display) + (1 + cell_len(description) if description else 0) + GAP


class DeckFooter(Footer):
    """Textual's footer scrolls a row that is too long and cuts its last label mid-word; this one shows fewer
    labels instead, and recomposes when the terminal is resized."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(show_command_palette=False, **kwargs)  # type: ignore[arg-type]
        self._width = 0

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        width = self.size.width or self.app.size.width
        seen: set[str] = set()
        shown: list[tuple[Binding, bool, str]] = []
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                shown.append((binding, enabled, tooltip))
        palette = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
        if palette is not None and self.app.ENABLE_COMMAND_PALETTE and palette[1].action not in seen:
            shown.append((palette[1], palette[2], palette[3]))
        displays = {binding.action: self.app.get_key_display(binding) for binding, _, _ in shown}

        def used() -> int:
            return sum(label_width(displays[b.action], b.description) for b, _, _ in shown)

        def rank(binding: Binding) -> int:
            name = binding.action.partition("(")[0]
            return LAST.index(name) if name in LAST else len(LAST)

        droppable = sorted((item for item in shown if item[0].action != "help"),
                           key=lambda item: (rank(item[0]), -shown.index(item)))
        while used() > width and droppable:
            shown.remove(droppable.pop(0))
        for binding, enabled, tooltip in shown:
            key = FooterKey(binding.key, displays[binding.action], binding.description, binding.action,
                            disabled=not enabled, tooltip=tooltip)
            # Set, not data_bind(compact=Footer.compact): Textual keeps every data-bound key in the footer's watcher
            # list until `compact` changes (it never does here), so each recompose — every bindings change, two
            # per chat turn — would keep the keys it removed alive, about 0.7 MB a chat turn.
            key.set_reactive(FooterKey.compact, self.compact)
            key.set_class(self.compact, "-compact", update=False)  # what its compact watcher would have done
            yield key

    def on_resize(self) -> None:
        if self.size.width != self._width:
            self._width = self.size.width
            if self._bindings_ready:
                self.call_after_refresh(self.recompose)

