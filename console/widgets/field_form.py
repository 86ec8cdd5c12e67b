"""A form of one-line fields walked from the keyboard: Tab/Shift-Tab and Down/Up move between its fields, and a
list opens only with Enter or Space."""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.widget import Widget
from textual.widgets import Label, Select

OptionValue = TypeVar("OptionValue")

ARROW_ACTIONS = frozenset({"field_below", "field_above"})


class FormSelect(Select[OptionValue], inherit_bindings=False):
    """A Select inside a form. Enter or Space opens its list; Up/Down are left to the form (previous/next field),
    so an arrow key never drops a list over the fields below, and typed letters pass on to the pane and the app
    (digits still switch panes)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "show_overlay", "Open list", show=False),
    ]


class FieldForm(Grid):
    """Label/field rows. Tab and Down go to the next field, Shift-Tab and Up to the previous one, wrapping
    around, so the keyboard never leaves the form by walking it; the app leaves Tab to a form (see `in_form`).

    The keys are priority bindings and move the focus at once: keys typed ahead (a burst over SSH) are handed out
    after the move, so `down 4 0` puts 40 in the next field, and an Input's own Up/Down (scrolling) never takes
    them. Within an open list the arrows are the list's."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "next_field", "Next field", id="form.next-field", show=False, priority=True),
        Binding("shift+tab", "previous_field", "Previous field", id="form.previous-field", show=False,
                priority=True),
        Binding("down", "field_below", "Next field", id="form.field-below", show=False, priority=True),
        Binding("up", "field_above", "Previous field", id="form.field-above", show=False, priority=True),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._labels: dict[Widget, str] = {}

    def row(self, label: str, field: Widget) -> tuple[Label, Widget]:
        """A label and its field, for `compose`; the label also names the field in `field_name`."""
        self._labels[field] = label
        return Label(label), field

    def fields(self) -> list[Widget]:
        return [child for child in self.children if child.focusable]

    def field_of(self, widget: Widget | None) -> Widget | None:
        """The form's field that is `widget` or holds it (an open list's options belong to their Select)."""
        if widget is None:
            return None
        return next((field for field in self.fields() if field in widget.ancestors_with_self), None)

    def field_name(self, field: Widget) -> str:
        return self._labels.get(field, field.id or "")

    def list_open(self) -> bool:
        """The focus is in an open list (a Select's options)."""
        field = self.field_of(self.app.focused)
        return isinstance(field, Select) and field.expanded

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in ARROW_ACTIONS and self.list_open())  # in an open list the arrows move in it

    def _move(self, step: int) -> None:
        fields = self.fields()
        if not fields:
            return
        current = self.field_of(self.app.focused)
        index = fields.index(current) + step if current in fields else 0
        # set now, not on the next message loop as `focus()` does: the next key typed must find it moved
        self.screen.set_focus(fields[index % len(fields)])

    def action_next_field(self) -> None:
        self._move(1)

    def action_previous_field(self) -> None:
        self._move(-1)

    def action_field_below(self) -> None:
        self._move(1)

    def action_field_above(self) -> None:
        self._move(-1)


def in_form(widget: Widget | None) -> bool:
    """True when `widget` is a field of a FieldForm (or inside one): there Tab walks the form's fields."""
    return widget is not None and any(isinstance(node, FieldForm) for node in widget.ancestors_with_self)
