"""`:keys`: API keys in the keyring. A key is never shown, only its masked tail; the secret field is a password
field that is cleared as soon as the key is stored."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static

from config import secrets
from console.widgets.column_fit import ColumnSpec
from console.widgets.keyed_table import KeyedTable


class KeysScreen(ModalScreen[None]):
    """Set: name + secret, Enter or the Set button. Delete: select a key (or type its name), Delete twice."""

    BINDINGS: ClassVar = [
        Binding("escape", "close", "Close", id="keys-close"),
        Binding("ctrl+d", "delete", "Delete key", id="keys-delete", priority=True),  # over Input's delete_right
    ]
    CSS_PATH = "keys.tcss"

    def __init__(self, *, readonly: bool = False) -> None:
        super().__init__()
        self.readonly = readonly
        self.armed_delete: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("API keys (OS keyring, service llmdeck) — only masked tails are ever shown")
            yield KeyedTable((ColumnSpec("name", "Name", 28, min_width=12), ColumnSpec("tail", "Stored", 14)),
                             id="keys-table")
            if not self.readonly:
                yield Input(placeholder="key name, e.g. anthropic", id="key-name")
                yield Input(placeholder="secret (hidden)", password=True, id="key-secret")
                with Horizontal():
                    yield Button("Set", id="key-set", variant="primary")
                    yield Button("Delete", id="key-delete", variant="error")
                    yield Button("Close", id="key-close")
            else:
                yield Button("Close", id="key-close")
            yield Static("", id="keys-message", markup=False)

    def on_mount(self) -> None:
        self.load_keys()
        first = self.query_one("#key-name", Input) if not self.readonly else self.query_one("#key-close", Button)
        self.set_focus(first)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self.readonly and action == "delete")

    def say(self, text: str) -> None:
        self.query_one("#keys-message", Static).update(text)

    @work(group="keys", exclusive=True, exit_on_error=False)
    async def load_keys(self) -> None:
        try:
            infos = await asyncio.to_thread(secrets.list_keys)
        except secrets.SecretsError as exc:
            self.say(str(exc))
            return
        self.query_one(KeyedTable).show([(info.name, (info.name, info.masked_tail or "(short key)"))
                                         for info in infos])
        if not infos:
            self.say("no keys stored yet")

    @on(Button.Pressed, "#key-close")
    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#key-set")
    @on(Input.Submitted, "#key-name,#key-secret")
    def set_pressed(self) -> None:
        name = self.query_one("#key-name", Input).value.strip()
        secret_field = self.query_one("#key-secret", Input)
        if not secret_field.value:
            self.set_focus(secret_field)
            self.say("type the secret (it stays hidden), then Enter")
            return
        secret = secret_field.value
        secret_field.value = ""  # the secret leaves the screen at once, whatever happens next
        self.store_key(name, secret)

    # A fixed description: the default one repeats the arguments, and one of them is the secret.
    @work(group="keys-write", exclusive=True, exit_on_error=False, description="store a key")
    async def store_key(self, name: str, secret: str) -> None:
        try:
            secrets.validate_key_name(name)
            await asyncio.to_thread(secrets.set_key, name, secret)
        except secrets.SecretsError as exc:
            self.say(str(exc))
            return
        tail = secrets.masked(secret)
        self.say(f"stored key {name}" + (f" ({tail})" if tail else ""))
        self.load_keys()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Only the operator's own moves pick a key: a reload also highlights a row, and must not change the name.
        if not self.readonly and event.row_key.value and event.data_table.has_focus:
            self.query_one("#key-name", Input).value = event.row_key.value

    @on(Button.Pressed, "#key-delete")
    def action_delete(self) -> None:
        if self.readonly:
            return
        name = self.query_one("#key-name", Input).value.strip()
        if not name:
            self.say("select a key or type its name first")
            return
        if self.armed_delete != name:
            self.armed_delete = name
            self.say(f"delete key {name}? press Delete (or ctrl+d) again to confirm, Esc to cancel")
            return
        self.armed_delete = None
        self.remove_key(name)

    @work(group="keys-write", exclusive=True, exit_on_error=False)
    async def remove_key(self, name: str) -> None:
        try:
            await asyncio.to_thread(secrets.delete_key, name)
        except secrets.SecretsError as exc:
            self.say(str(exc))
            return
        self.say(f"deleted key {name}")
        self.load_keys()
