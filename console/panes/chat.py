"""The Chat pane: talk to an alias or PROVIDER/MODEL, answers streamed in batches, sessions kept in the ledger."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Select, Static
from textual.worker import Worker, WorkerState

from console.panes.chat_session_pane import ChatSessionPane
from console.panes.chat_sessions import DEFAULT_TITLE, LedgerUnavailableError, title_from
from console.widgets.chat_log import AnswerBlock, ChatLog
from console.widgets.chat_turn import TurnStatus, TurnSummary, summarize
from console.widgets.prompt_area import PromptArea
from console.widgets.stream_batcher import StreamBatcher
from providers.base import ChatRequest, Message
from providers.deck import CatalogChanged, ChatRun, Deck, DeckEvent
from providers.errors import ProviderError, StreamBrokenError
from providers.ledger import LedgerError, SessionRecord, UnknownSessionError
from providers.safe_text import TerminalSafeStream, one_line

REPLY_GROUP = "chat-reply"
TARGETS_GROUP = "chat-targets"
IDLE_HINT = "enter send · ctrl+j new line · esc cancel · ctrl+t target · ctrl+g settings · ctrl+o sessions"


def target_options(aliases: list[str], models: list[str]) -> list[tuple[Text, str]]:
    """Aliases first (they route and fall back), then every chat model as PROVIDER/MODEL. The labels are Text:
    a model name is the server's choice and must never be read as markup or reach the terminal raw."""
    return [(Text(one_line(f"⇢ {alias}")), alias) for alias in aliases] + [
        (Text(one_line(model)), model) for model in models if model not in aliases]


class ChatPane(ChatSessionPane):
    """One session at a time; one reply streaming at a time (Esc cancels it)."""

    PANE_ID = "chat"
    PANE_TITLE = "Chat"
    FOCUS = "#chat-prompt"

    DEFAULT_CSS = """
    ChatPane #chat-bar {
        height: 1;
        width: 1fr;
    }
    ChatPane #chat-target {
        width: 45%;
        max-width: 60;
    }
    ChatPane #chat-session {
        width: 1fr;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ChatPane #chat-prompt {
        margin: 0 0;
    }
    ChatPane #chat-status {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel_reply", "Cancel reply", id="chat.cancel"),
        Binding("ctrl+t", "pick_target", "Target", id="chat.target"),
        Binding("i", "type_message", "Type", id="chat.type"),
    ]

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        self._aliases = list(self.deck.router.routes)
        self._models: list[str] = []
        self._reply: Worker[None] | None = None
        self._saving: set[asyncio.Task[str | None]] = set()  # held: the loop keeps only weak references
        self._targets_stale = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-bar"):
            yield Select(target_options(self._aliases, []), value=self.target or Select.NULL, allow_blank=True,
                         prompt="target: pick one", compact=True, id="chat-target")
            yield Static("", id="chat-session", markup=False)
        yield ChatLog(id="chat-log")
        yield PromptArea(id="chat-prompt", soft_wrap=True, show_line_numbers=False, compact=True,
                         placeholder="Message (Enter sends, ctrl+j new line)")
        yield Static(IDLE_HINT, id="chat-status", markup=False)

    def on_mount(self) -> None:
        self._show_session_line()
        self.load_targets()
        self.open_latest_session()

    # --- state shown ---------------------------------------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self._reply is not None and self._reply.is_running

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_reply":
            return self.streaming  # otherwise Esc goes on to the app (back)
        return True

    def deck_event(self, event: DeckEvent) -> None:
        if isinstance(event, CatalogChanged):
            self._targets_stale = True

    def on_show(self) -> None:
        if self._targets_stale:
            self.load_targets()
        # Coming to the chat means typing: the prompt takes the focus (the target picker is ctrl+t away).
        self.query_one(PromptArea).focus()

    def refresh_now(self) -> None:
        self.load_targets()

    def set_target(self, target: str) -> None:
        """Choose what to talk to (also used by the app's `:chat TARGET`)."""
        self.target = target
        if self.is_mounted:
            self._sync_target_options()

    def _sync_target_options(self) -> None:
        select = self.query_one("#chat-target", Select)
        models = list(self._models)
        if self.target and self.target not in self._aliases and self.target not in models:
            models.insert(0, self.target)
        with self.prevent(Select.Changed):
            select.set_options(target_options(self._aliases, models))
            select.value = self.target if self.target else Select.NULL

    # --- targets --------------------------------------------------------------------------------------------

    @work(group=TARGETS_GROUP, exclusive=True, exit_on_error=False)
    async def load_targets(self) -> None:
        self._targets_stale = False
        catalog = await self.deck.catalog()  # providers that fail are listed in catalog.errors, not raised
        self._models = [f"{e.model.provider}/{e.model.name}" for e in catalog.entries if e.model.kind == "chat"]
        self._sync_target_options()

    @on(Select.Changed, "#chat-target")
    def _target_chosen(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str) and event.value != self.target:
            self.target = event.value
            if self.session is not None:
                self.save_session_settings()

    def action_pick_target(self) -> None:
        select = self.query_one("#chat-target", Select)
        select.focus()
        select.action_show_overlay()

    # --- sending and streaming ------------------------------------------------------------------------------

    @on(PromptArea.Submitted)
    def _prompt_submitted(self, event: PromptArea.Submitted) -> None:
        event.stop()
        if self.streaming:
            self.notify("A reply is still streaming; Esc cancels it.", severity="warning")
            return
        if not self.target:
            self.notify("Pick a target first (ctrl+t).", severity="warning")
            return
        event.prompt_area.clear()
        self._reply = self.stream_reply(event.text.strip("\n"), self.target)
        self.refresh_bindings()

    def build_request(self, prompt: str, target: str) -> ChatRequest:
        system = [Message("system", self.settings.system_prompt)] if self.settings.system_prompt else []
        return ChatRequest(model=target, messages=(*system, *self.history, Message("user", prompt)),
                           max_tokens=self.settings.max_tokens, temperature=self.settings.temperature)

    @work(group=REPLY_GROUP, exit_on_error=False)
    async def stream_reply(self, prompt: str, target: str) -> None:
        log = self.query_one(ChatLog)
        await log.add_user(prompt)
        answer = await log.add_answer()
        self._status(f"streaming from {target} · esc cancels")
        run: ChatRun | None = None
        batcher = StreamBatcher(answer.write)
        # Model text is outside text: an escape sequence split across chunks is still removed whole.
        shown = TerminalSafeStream()
        status: TurnStatus = "complete"
        reason = ""
        try:
            run = self.deck.chat_stream(target, self.build_request(prompt, target))
            async for chunk in run:
                await batcher.add(shown.feed(chunk.text))
        except StreamBrokenError as exc:
            status, reason = "cut", exc.message
        except ProviderError as exc:
            status, reason = ("cut" if run is not None and run.text else "failed"), str(exc)
        except LookupError as exc:  # an unknown target: the router says which exist
            status, reason = "failed", str(exc).strip("'\"")
        except asyncio.CancelledError:
            await self._end_turn(prompt, answer, batcher, run, "cancelled", "cancelled by the operator",
                                 tail=shown.finish())
            raise
        await batcher.add(shown.finish())
        await self._end_turn(prompt, answer, batcher, run, status, reason)

    async def _end_turn(self, prompt: str, answer: AnswerBlock, batcher: StreamBatcher, run: ChatRun | None,
                        status: TurnStatus, reason: str, *, tail: str = "") -> None:
        """Write the turn to the ledger and show how it ended, whatever the ending was. The ledger first, in a task
        of its own: when the console closes mid-stream (ctrl+q, a hang-up) this worker is cancelled and its
        widgets go away, yet the prompt and the partial answer are still kept as cancelled (the console waits
        for the write before it closes the ledger)."""
        summary = summarize(run, status, reason) if run is not None else TurnSummary(status, reason=reason)
        text = run.text if run is not None else ""
        saving = asyncio.ensure_future(self._save_turn(prompt, text, summary))
        self._saving.add(saving)
        saving.add_done_callback(self._saving.discard)
        problem = await asyncio.shield(saving)
        if problem is not None:
            self.notify(f"The turn was not saved: {problem}", severity="warning", markup=False)
        self._show_session_line()
        if tail:
            await batcher.add(tail)
        self.history.append(Message("user", prompt))
        if text:
            self.history.append(Message("assistant", text))
        await batcher.finish()
        await answer.finish(summary)
        self._status(IDLE_HINT)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Keys follow the reply's state (Esc cancels only while it runs); unexpected failures are shown."""
        if event.worker is self._reply:
            self.refresh_bindings()
        if event.state == WorkerState.ERROR:
            self.notify(f"{type(event.worker.error).__name__}: {event.worker.error}", title="Chat",
                        severity="error", markup=False)

    async def _save_turn(self, prompt: str, text: str, summary: TurnSummary) -> str | None:
        """Write the turn, opening the session first if need be; None once saved, else why it was not. Touches
        only the ledger, never a widget, so it can finish while the console closes."""
        try:
            session = await self._ensure_session(prompt)
            await self.book.add_turn(session.id, prompt, text, summary)
        except (LedgerUnavailableError, LedgerError, UnknownSessionError) as exc:
            return str(exc)
        return None

    async def _ensure_session(self, prompt: str) -> SessionRecord:
        """The first prompt of a session opens one (or names a fresh 'New chat') after itself."""
        if self.session is None:
            self.session = await self.book.create(title_from(prompt), self.target, self.settings)
        elif self.session.title == DEFAULT_TITLE and not self.history:
            self.session = await self.book.rename(self.session.id, title_from(prompt))
        return self.session

    def action_type_message(self) -> None:
        """`i` (after Esc left the prompt): back to typing."""
        self.query_one("#chat-prompt", PromptArea).focus()

    def action_cancel_reply(self) -> None:
        if self._reply is not None and self._reply.is_running:
            self._reply.cancel()  # closes the HTTP stream: the router's generators close their adapters
