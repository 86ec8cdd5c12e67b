"""The chat pane's session side: current session and settings, the sessions dialog, delete, export."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.widgets import Static

from console.panes.base import DeckPane
from console.screens.chat_settings import ChatSettingsDialog
from console.screens.confirm import ConfirmDialog
from console.screens.sessions import SessionAction, SessionsDialog
from console.widgets.chat_log import ChatLog
from providers.base import Message
from providers.chat_settings import ChatSettings
from providers.deck import Deck
from providers.ledger import SessionRecord, UnknownSessionError
from providers.safe_text import one_line
from providers.sessions import DEFAULT_TITLE, LedgerUnavailableError, SessionBook
from providers.turns import TranscriptEntry

SESSION_GROUP = "chat-session"
EMPTY_HINT = "No messages yet. Type below; Enter sends, ctrl+j starts a new line."


class ChatSessionPane(DeckPane):
    """Holds the session being shown, its settings and the history sent with each prompt; the ChatPane adds
    the target picker and streaming on top.

    `session`, `settings` and `target` are the pane's state: set them and the session line (and, in the ChatPane,
    the target picker) follows. The ledger owns the sessions; the pane only shows one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+g", "settings", "Settings", id="chat.settings"),
        Binding("ctrl+n", "new_session", "New chat", id="chat.new"),
        Binding("ctrl+o", "sessions", "Sessions", id="chat.sessions"),
        Binding("ctrl+s", "export", "Export", id="chat.export"),
    ]

    session: var[SessionRecord | None] = var(None, init=False)
    """The session shown (None: none yet; the first prompt opens one)."""
    settings: var[ChatSettings] = var(ChatSettings(), init=False)
    """System prompt, max tokens and temperature sent with each prompt (kept with the session)."""
    target: var[str | None] = var(None, init=False)
    """What the prompts go to: an alias or PROVIDER/MODEL."""

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        self.book = SessionBook(self.deck)
        self.history: list[Message] = []
        aliases = self.deck.aliases()
        self.set_reactive(ChatSessionPane.target, aliases[0] if aliases else None)
        self.last_export: str | None = None

    @property
    def streaming(self) -> bool:
        return False

    def set_target(self, target: str) -> None:
        """Choose what to talk to (also used by the app's `:chat TARGET`)."""
        self.target = target

    def watch_session(self) -> None:
        if self.is_mounted:
            self._show_session_line()

    def watch_settings(self) -> None:
        if self.is_mounted:
            self._show_session_line()

    def _show_session_line(self) -> None:
        title = self.session.title if self.session else "no session yet"
        self.query_one("#chat-session", Static).update(one_line(f"{title} · {self.settings.describe()}"))

    def _status(self, text: str) -> None:
        self.query_one("#chat-status", Static).update(one_line(text))

    # --- settings -------------------------------------------------------------------------------------------

    def action_settings(self) -> None:
        def chosen(settings: ChatSettings | None) -> None:
            if settings is None:
                return
            self.settings = settings
            if self.session is not None:
                self.save_session_settings()

        self.app.push_screen(ChatSettingsDialog(self.settings), chosen)

    @work(group=SESSION_GROUP, exit_on_error=False)
    async def save_session_settings(self) -> None:
        if self.session is not None:
            await self.book.update(self.session.id, self.target, self.settings)

    # --- sessions -------------------------------------------------------------------------------------------

    @work(group=SESSION_GROUP, exclusive=True, exit_on_error=False)
    async def open_latest_session(self) -> None:
        try:
            sessions = await self.book.sessions()
        except LedgerUnavailableError:
            sessions = []
        if sessions:
            try:
                await self.switch_to(sessions[0].id)
            except UnknownSessionError:  # deleted between the two reads
                await self.switch_to(None)
        else:
            await self.query_one(ChatLog).show_transcript([], EMPTY_HINT)

    async def switch_to(self, session_id: int | None) -> None:
        """Show a session (None: none, an empty log) and take its target and settings."""
        if session_id is None:
            self.session, self.history = None, []
            await self.query_one(ChatLog).show_transcript([], EMPTY_HINT)
        else:
            loaded = await self.book.load(session_id)
            self.session, self.history = loaded.record, list(loaded.history)
            self.settings = loaded.settings
            if loaded.record.target:
                self.set_target(loaded.record.target)
            await self.query_one(ChatLog).show_transcript(loaded.transcript, EMPTY_HINT)

    async def show_transcript(self, entries: list[TranscriptEntry], title: str) -> None:
        """Show fixed content (screenshots, snapshots) without touching the ledger."""
        self.session = SessionRecord(0, title, 0.0, 0.0, self.target, self.settings.system_prompt or None,
                                     self.settings.params())
        await self.query_one(ChatLog).show_transcript(entries, EMPTY_HINT)

    def _busy(self) -> bool:
        if self.streaming:
            self.notify("Cancel the streaming reply first (Esc).", severity="warning")
        return self.streaming

    def action_new_session(self) -> None:
        if not self._busy():
            self.new_session()

    @work(group=SESSION_GROUP, exclusive=True, exit_on_error=False)
    async def new_session(self) -> None:
        try:
            record = await self.book.create(DEFAULT_TITLE, self.target, self.settings)
        except LedgerUnavailableError as exc:
            self.notify(str(exc), severity="warning")
            return
        await self.switch_to(record.id)

    def action_sessions(self) -> None:
        if not self._busy():
            self.manage_sessions()

    @work(group=SESSION_GROUP, exclusive=True, exit_on_error=False)
    async def manage_sessions(self) -> None:
        try:
            sessions = await self.book.sessions()
        except LedgerUnavailableError as exc:
            self.notify(str(exc), severity="warning")
            return
        current = self.session.id if self.session else None
        action = await self.app.push_screen_wait(SessionsDialog(sessions, current, can_delete=not self.readonly))
        if action is None:
            return
        try:
            await self.apply_session_action(action, sessions)
        except UnknownSessionError:  # deleted meanwhile (another console on the same ledger)
            self.notify("That session no longer exists.", severity="warning")
            await self.switch_to(None)
        except LedgerUnavailableError as exc:
            self.notify(str(exc), severity="warning")

    async def apply_session_action(self, action: SessionAction, sessions: list[SessionRecord]) -> None:
        if action.verb == "switch" and action.session_id is not None:
            await self.switch_to(action.session_id)
        elif action.verb == "new":
            record = await self.book.create(DEFAULT_TITLE, self.target, self.settings)
            await self.switch_to(record.id)
        elif action.verb == "rename" and action.session_id is not None:
            record = await self.book.rename(action.session_id, action.title)
            if self.session is not None and self.session.id == record.id:
                self.session = record
        elif action.verb == "delete" and action.session_id is not None and not self.readonly:
            await self._delete_session(action.session_id, sessions)

    async def _delete_session(self, session_id: int, sessions: list[SessionRecord]) -> None:
        title = next((s.title for s in sessions if s.id == session_id), str(session_id))
        history = self.deck.history()
        ledger_path = history.path if history is not None else "the ledger"
        confirmed = await self.app.push_screen_wait(ConfirmDialog(
            f"Delete chat session “{title}”?", f"ledger.delete_session({session_id})  # {ledger_path}",
            "Removes the session and all its messages from the ledger. Markdown exports already written stay.",
            "Delete"))
        if not confirmed:
            return
        await self.book.delete(session_id)
        if self.session is not None and self.session.id == session_id:
            remaining = await self.book.sessions()
            await self.switch_to(remaining[0].id if remaining else None)

    # --- export ---------------------------------------------------------------------------------------------

    def action_export(self) -> None:
        self.export_session()

    @work(group=SESSION_GROUP, exit_on_error=False)
    async def export_session(self) -> None:
        if self.session is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        try:
            path = await self.book.export(self.session.id)
        except (LedgerUnavailableError, UnknownSessionError, OSError) as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.last_export = str(path)
        self._status(f"exported to {path}")
        self.notify(f"Session exported to {path}", title="Export")
