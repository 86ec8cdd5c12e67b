"""The Chat pane: talk to an alias or PROVIDER/MODEL, answers streamed in batches, sessions kept in the ledger."""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Select, Static
from textual.worker import Worker, WorkerState

from console.bridge import DeckBridge
from console.clipboard import copy_text
from console.panes.chat_session_pane import ChatSessionPane
from console.widgets.chat_log import AnswerBlock, ChatLog
from console.widgets.prompt_area import PromptArea
from console.widgets.stream_batcher import StreamBatcher
from providers.base import ChatRequest, Message
from providers.chat_run import ChatRun
from providers.deck import Deck
from providers.errors import ProviderError
from providers.ledger import LedgerError, UnknownSessionError
from providers.safe_text import TerminalSafeStream, one_line
from providers.sessions import DEFAULT_TITLE, LedgerUnavailableError, draft, title_from
from providers.turns import TurnPlan, TurnSummary

REPLY_GROUP = "chat-reply"
TARGETS_GROUP = "chat-targets"
IDLE_HINT = "enter send · ctrl+j new line · esc cancel · ctrl+t target · ctrl+g settings · ctrl+o sessions"
CANCELLED = "cancelled by the operator"


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

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel_reply", "Cancel reply", id="chat.cancel"),
        Binding("ctrl+t", "pick_target", "Target", id="chat.target"),
        Binding("i", "type_message", "Type", id="chat.type"),
        Binding("y", "copy_answer", "Copy answer", id="copy"),
    ]

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        self._aliases = self.deck.aliases()
        self._models: list[str] = []
        self._reply: Worker[None] | None = None
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

    def running_work(self) -> list[str]:
        return [f"chat reply from {self.target}"] if self.streaming else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_reply":
            return self.streaming  # otherwise Esc goes on to the app (back)
        return True

    def on_deck_bridge_catalogs_changed(self, message: DeckBridge.CatalogsChanged) -> None:
        self._targets_stale = True  # reloaded when the pane is next shown

    def on_show(self) -> None:
        if self._targets_stale:
            self.load_targets()
        # Coming to the chat means typing: the prompt takes the focus (the target picker is ctrl+t away).
        self.query_one(PromptArea).focus()

    def refresh_now(self) -> None:
        self.load_targets()

    def watch_target(self) -> None:
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
            self.set_reactive(ChatPane.target, event.value)  # the picker shows it already
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
        plan: TurnPlan | None = None
        batcher = StreamBatcher(answer.write)
        # Model text is outside text: an escape sequence split across chunks is still removed whole.
        shown = TerminalSafeStream()
        try:
            plan = await self._plan_turn(prompt)
            run = self.deck.chat_stream(target, self.build_request(prompt, target), turn=plan)
            # Leaving the block writes the turn with its request row, however it is left (a cancel included).
            async with run:
                try:
                    async for chunk in run:
                        await batcher.add(shown.feed(chunk.text))
                except asyncio.CancelledError:
                    run.stop_reason = CANCELLED
                    raise
        except ProviderError:
            pass  # the run holds the error: its summary says how the turn ended
        except LookupError as exc:  # an unknown target, so no run: the router says which exist
            await self._end_turn(prompt, answer, batcher, run, plan, reason=str(exc).strip("'\""))
            return
        except asyncio.CancelledError:
            await self._end_turn(prompt, answer, batcher, run, plan, reason=CANCELLED, tail=shown.finish())
            raise
        await batcher.add(shown.finish())
        await self._end_turn(prompt, answer, batcher, run, plan)

    async def _plan_turn(self, prompt: str) -> TurnPlan:
        """Where the turn is kept: the session shown (a fresh 'New chat' is named after its first prompt), or a
        new one opened with the turn itself."""
        if self.session is None:
            return TurnPlan(prompt, draft(title_from(prompt), self.target, self.settings))
        if self.session.title == DEFAULT_TITLE and not self.history:
            # A failure here is left to the turn's own write, which says what is wrong.
            with contextlib.suppress(LedgerUnavailableError, LedgerError, UnknownSessionError):
                self.session = await self.book.rename(self.session.id, title_from(prompt))
        return TurnPlan(prompt, self.session.id)

    async def _end_turn(self, prompt: str, answer: AnswerBlock, batcher: StreamBatcher, run: ChatRun | None,
                        plan: TurnPlan | None, *, reason: str = "", tail: str = "") -> None:
        """Show how the turn ended. A run wrote its turn with its request row when it was left (the console
        closing mid-stream included: the Deck finishes it before the ledger closes); a prompt that never became
        a run is kept alone."""
        if run is not None:
            await run.aclose()  # already done, unless a cancel came while it was being written
        if run is not None and run.summary is not None:
            summary, problem = run.summary, run.turn_problem
            written = run.written.session_id if run.written else None
            if written is not None and (self.session is None or self.session.id != written):
                with contextlib.suppress(LedgerUnavailableError, LedgerError, UnknownSessionError):
                    self.session = await self.book.get(written)  # the session opened with this turn
        else:
            summary = TurnSummary("cancelled" if reason == CANCELLED else "failed", reason=reason)
            problem = await self._keep_prompt(plan)
        if problem is not None:
            self.notify(f"The turn was not saved: {problem}", severity="warning", markup=False)
        if tail:
            await batcher.add(tail)
        text = run.text if run is not None else ""
        self.history.append(Message("user", prompt))
        if text:
            self.history.append(Message("assistant", text))
        await batcher.finish()
        await answer.finish(summary)
        self._status(IDLE_HINT)

    async def _keep_prompt(self, plan: TurnPlan | None) -> str | None:
        """Keep a prompt that never became a request; None once kept (or nothing to keep), else why not."""
        if plan is None:
            return None
        try:
            self.session = await self.book.add_prompt(plan)
        except (LedgerUnavailableError, LedgerError, UnknownSessionError) as exc:
            return str(exc)
        return None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Keys follow the reply's state (Esc cancels only while it runs); unexpected failures are shown."""
        if event.worker is self._reply:
            self.refresh_bindings()
        if event.state == WorkerState.ERROR:
            self.notify(f"{type(event.worker.error).__name__}: {event.worker.error}", title="Chat",
                        severity="error", markup=False)

    def answer_to_copy(self) -> AnswerBlock | None:
        """The answer the focus is in, else the last one."""
        focused = self.app.focused
        if focused is not None:
            holder = next((node for node in focused.ancestors_with_self if isinstance(node, AnswerBlock)), None)
            if holder is not None:
                return holder
        answers = self.query(AnswerBlock)
        return answers.last() if answers else None

    def action_copy_answer(self) -> None:
        """`y` (after Esc left the prompt): the focused answer, or the last one, as the model wrote it."""
        answer = self.answer_to_copy()
        if answer is None:
            self.notify("No answer yet: nothing copied.", severity="warning")
            return
        still_streaming = self.streaming and answer is self.query(AnswerBlock).last()
        copy_text(self.app, answer.source, "answer so far" if still_streaming else "answer")

    def action_type_message(self) -> None:
        """`i` (after Esc left the prompt): back to typing."""
        self.query_one("#chat-prompt", PromptArea).focus()

    def action_cancel_reply(self) -> None:
        if self._reply is not None and self._reply.is_running:
            self._reply.cancel()  # closes the HTTP stream: the router's generators close their adapters
