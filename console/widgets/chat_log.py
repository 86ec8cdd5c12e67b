"""ChatLog: the scrolling transcript of a chat; an answer streams into one text widget, drawn as Markdown once it
ends, with a facts line below."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from console.widgets.answer_text import AnswerText
from console.widgets.chat_turn import footer_line, status_line
from providers.safe_text import one_line, terminal_safe
from providers.turns import TranscriptEntry, TurnSummary


class UserBlock(Static):
    """A message the operator sent, shown as typed (no markup)."""

    DEFAULT_CSS = """
    UserBlock {
        width: 1fr;
        height: auto;
        margin: 1 0 0 0;
        padding: 0 1;
        background: $boost;
        color: $text;
        border-left: thick $accent;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(terminal_safe(text), markup=False)
        self.text = text


class AnswerBlock(Vertical):
    """An assistant answer: plain text appended in batches while it streams, Markdown once it ends, then the
    facts line and, when it did not complete, a mark that says so (cut answers are never shown as complete).
    Three widgets however long the answer, so a long transcript stays cheap to lay out. It takes the focus when
    clicked, so `y` copies that answer rather than the last."""

    can_focus = True

    DEFAULT_CSS = """
    AnswerBlock {
        height: auto;
        border-left: thick $primary;
    }
    AnswerBlock:focus {
        background: $boost;
    }
    AnswerBlock.-cut, AnswerBlock.-failed {
        border-left: thick $error;
    }
    AnswerBlock.-cancelled {
        border-left: thick $warning;
    }
    AnswerBlock > AnswerText {
        padding: 0 1;
    }
    AnswerBlock > .answer-status {
        padding: 0 1;
        color: $text-error;
        text-style: bold;
        display: none;
    }
    AnswerBlock.-cancelled > .answer-status {
        color: $text-warning;
    }
    AnswerBlock > .answer-footer {
        padding: 0 1;
        color: $text-muted;
        display: none;
    }
    AnswerBlock > .answer-status.-shown, AnswerBlock > .answer-footer.-shown {
        display: block;
    }
    """

    def __init__(self, text: str = "", *, streaming: bool = False) -> None:
        super().__init__()
        # Saved answers are stored as the model sent them; every display makes them terminal-safe.
        self.initial_text = terminal_safe(text)
        self.summary: TurnSummary | None = None
        self.writes = 0
        """Batches appended so far (far fewer than tokens: the StreamBatcher coalesces them)."""
        self._streaming = streaming

    def compose(self) -> ComposeResult:
        yield AnswerText(self.initial_text, markdown=not self._streaming)
        yield Static("", classes="answer-status", markup=False)
        yield Static("", classes="answer-footer", markup=False)

    @property
    def body(self) -> AnswerText:
        return self.query_one(AnswerText)

    async def write(self, fragment: str) -> None:
        """Append a batch of text (the StreamBatcher's sink): no widget is added, only its rows grow."""
        self.writes += 1
        # Callers pass text already cleaned by a TerminalSafeStream; this catches any that did not (idempotent).
        self.body.append(terminal_safe(fragment))
        self._follow()

    async def finish(self, summary: TurnSummary) -> None:
        """The stream ended (however): draw the text as Markdown and show the facts line and status mark."""
        self._streaming = False
        self.body.show_markdown()
        self.show_summary(summary)
        self._follow()

    def _follow(self) -> None:
        if isinstance(self.parent, ChatLog):
            self.parent.follow()

    def show_summary(self, summary: TurnSummary) -> None:
        self.summary = summary
        for status in ("cut", "cancelled", "failed"):
            self.set_class(summary.status == status, f"-{status}")
        mark = status_line(summary)
        status_widget = self.query_one(".answer-status", Static)
        status_widget.update(one_line(mark))
        status_widget.set_class(bool(mark), "-shown")
        footer = self.query_one(".answer-footer", Static)
        footer.update(one_line(footer_line(summary)))
        footer.add_class("-shown")

    @property
    def source(self) -> str:
        return self.body.source


class ChatLog(VerticalScroll):
    """The transcript. A short one stays at the top; once it overflows, the log keeps its end in view while
    answers grow, until the operator scrolls up (Textual's anchor)."""

    DEFAULT_CSS = """
    ChatLog {
        height: 1fr;
        padding: 0 1;
    }
    ChatLog > .chat-empty {
        color: $text-muted;
        padding: 1 1;
    }
    """

    def follow(self) -> None:
        self.call_after_refresh(self._anchor_if_overflowing)

    def _anchor_if_overflowing(self) -> None:
        # Anchoring a log shorter than its window would push its content to the bottom edge.
        if not self.is_anchored and self.virtual_size.height > self.scrollable_content_region.height:
            self.anchor()

    async def add_user(self, text: str) -> UserBlock:
        await self._drop_placeholder()
        block = UserBlock(text)
        await self.mount(block)
        self.follow()
        return block

    async def add_answer(self, text: str = "") -> AnswerBlock:
        await self._drop_placeholder()
        block = AnswerBlock(text, streaming=True)
        await self.mount(block)
        self.follow()
        return block

    async def show_transcript(self, entries: list[TranscriptEntry], empty_hint: str = "") -> None:
        """Replace the whole log (a session switch): one render per message, not per token."""
        self.anchor(False)
        await self.remove_children()
        if not entries and empty_hint:
            await self.mount(Static(empty_hint, classes="chat-empty", markup=False))
            return
        blocks: list[UserBlock | AnswerBlock] = []
        for entry in entries:
            if entry.role == "assistant":
                blocks.append(AnswerBlock(entry.text))
            elif entry.role == "user":
                blocks.append(UserBlock(entry.text))
        await self.mount_all(blocks)
        for block, entry in zip(blocks, (e for e in entries if e.role in ("user", "assistant")), strict=True):
            if isinstance(block, AnswerBlock) and entry.summary is not None:
                block.show_summary(entry.summary)
        self.follow()

    async def _drop_placeholder(self) -> None:
        await self.query(".chat-empty").remove()
