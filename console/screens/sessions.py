"""SessionsDialog: the chat sessions of the ledger; pick one, or ask for a new one, a rename or a delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from console.upload_by_hand import can_upload, upload_session
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import KeyedTable, Row, plain
from console.widgets.table_sort import SortValue, text_value
from providers.ledger import SessionRecord
from providers.safe_text import one_line

SessionVerb = Literal["switch", "new", "rename", "delete"]


@dataclass(frozen=True, slots=True)
class SessionAction:
    """What the operator asked for; the chat pane carries it out (and confirms a delete first)."""

    verb: SessionVerb
    session_id: int | None = None
    title: str = ""


COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("current", "", 1, sortable=False), ColumnSpec("title", "Title", 48, min_width=16),
    ColumnSpec("updated", "Updated", 11), ColumnSpec("target", "Target", 28, priority=1, min_width=10),
)
"""The current session is marked ●; the target goes first when the dialog is narrow."""


def session_row(session: SessionRecord, current: int | None) -> Row:
    when = datetime.fromtimestamp(session.updated).astimezone().strftime("%m-%d %H:%M")
    mark = "●" if session.id == current else ""
    return str(session.id), (mark, plain(session.title), when, plain(session.target or "—"))


def session_values(session: SessionRecord) -> tuple[SortValue, ...]:
    return None, session.title.casefold(), session.updated, text_value(session.target or "")


class SessionsDialog(ModalScreen[SessionAction | None]):
    """Enter switches, n new, r rename (type the title, Enter), d delete (the pane confirms), Y uploads the highlighted
    session to Dropbox (the dialog stays open), Esc closes."""

    CSS_PATH = "sessions.tcss"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="sessions.close"),
        Binding("n", "new", "New", id="sessions.new"),
        Binding("r", "rename", "Rename", id="sessions.rename"),
        Binding("d,delete", "delete", "Delete", id="sessions.delete"),
        Binding("Y", "upload", "Upload", id="sessions.upload"),
    ]

    def __init__(self, sessions: list[SessionRecord], current: int | None, *, can_delete: bool = True) -> None:
        super().__init__()
        self.sessions = sessions
        self.current = current
        self.can_delete = can_delete

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions-box"):
            yield Label(f"Chat sessions ({len(self.sessions)})")
            yield KeyedTable(COLUMNS, id="sessions-table")
            yield Input(placeholder="new title, Enter to rename", id="sessions-rename")
            hint = ("enter switch · n new · r rename" + (" · d delete" if self.can_delete else "")
                    + (" · Y upload" if can_upload(self.app) else "") + " · esc close")
            yield Static(hint, id="sessions-hint", markup=False)

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#sessions-table", KeyedTable)

    def on_mount(self) -> None:
        table = self.table
        table.show([session_row(s, self.current) for s in self.sessions],
                   {str(s.id): session_values(s) for s in self.sessions})
        if str(self.current) in table.keys:
            table.move_cursor(row=table.keys.index(str(self.current)), animate=False)
        self.set_focus(table)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "delete" and not self.can_delete:
            return None  # hidden and disabled: readonly
        if action == "upload" and not can_upload(self.app):
            return False  # hidden and disabled: no dropbox provider to send to
        # While a title is being typed the letters belong to it.
        typed = ("new", "rename", "delete", "upload")
        return not (action in typed and self.query_one("#sessions-rename", Input).has_focus)

    def _highlighted_id(self) -> int | None:
        key = self.table.cursor_key()
        return int(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        session_id = self._highlighted_id()
        if session_id is not None:
            self.dismiss(SessionAction("switch", session_id))

    def action_new(self) -> None:
        self.dismiss(SessionAction("new"))

    def action_rename(self) -> None:
        session_id = self._highlighted_id()
        if session_id is None:
            return
        title = next((s.title for s in self.sessions if s.id == session_id), "")
        rename = self.query_one("#sessions-rename", Input)
        rename.value = one_line(title)
        rename.add_class("-shown")
        self.set_focus(rename)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        session_id = self._highlighted_id()
        if session_id is not None and event.value.strip():
            self.dismiss(SessionAction("rename", session_id, event.value.strip()))

    def action_delete(self) -> None:
        session_id = self._highlighted_id()
        if session_id is not None:
            self.dismiss(SessionAction("delete", session_id))

    def action_upload(self) -> None:
        session_id = self._highlighted_id()
        if session_id is not None:
            upload_session(self.app, session_id)

    def action_close(self) -> None:
        rename = self.query_one("#sessions-rename", Input)
        if rename.has_class("-shown"):
            rename.remove_class("-shown")
            self.set_focus(self.table)
            return
        self.dismiss(None)
