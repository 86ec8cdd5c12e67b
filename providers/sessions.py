"""Chat sessions kept in the ledger, for every front end.

Reading is plain functions over a Ledger (the CLI's `sessions list/show/export` and `chat --session`); the
console's Chat pane uses SessionBook, the same reads and the session edits run in a thread over the Deck's ledger.
Turns themselves are written by the Deck when a chat run ends, with its request row (see providers/chat_run.py).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from providers.base import Message
from providers.chat_settings import ChatSettings
from providers.ledger import Ledger, MessageRecord, RequestRecord, SessionRecord, UnknownSessionError
from providers.ledger_schema import SessionDraft
from providers.safe_text import one_line, terminal_safe
from providers.turns import TranscriptEntry, TurnPlan, TurnSummary

if TYPE_CHECKING:
    from providers.deck import Deck  # the console's; the CLI reads a Ledger without building a Deck

DEFAULT_TITLE = "New chat"
TITLE_LENGTH = 48
EXPORT_DIR = "exports"


class LedgerUnavailableError(RuntimeError):
    """The Deck has no open ledger (not started, or stopping): sessions cannot be read or written."""


@dataclass(frozen=True, slots=True)
class SessionTurn:
    """A prompt and its answer (None when the request failed before any text), with the answer's facts."""

    prompt: str
    answer: str | None
    summary: TurnSummary
    created: float


@dataclass(frozen=True, slots=True)
class LoadedSession:
    """A session with what a transcript shows and what the next request sends as history."""

    record: SessionRecord
    transcript: list[TranscriptEntry]
    history: list[Message]
    turns: list[SessionTurn]

    @property
    def settings(self) -> ChatSettings:
        return ChatSettings.from_session(self.record.system_prompt, self.record.params)


def title_from(prompt: str) -> str:
    """A session title from the first line of its first prompt."""
    # A title is shown in lists, dialogs and file names: one terminal-safe line.
    first = one_line(prompt.strip().splitlines()[0]) if prompt.strip() else DEFAULT_TITLE
    return first if len(first) <= TITLE_LENGTH else first[:TITLE_LENGTH - 1] + "…"


def draft(title: str, target: str | None, settings: ChatSettings) -> SessionDraft:
    """A session opened with its first turn."""
    return SessionDraft(title, target, settings.system_prompt or None, settings.params())


def find_session(ledger: Ledger, name_or_id: str) -> SessionRecord:
    """A session by id, else by title (the most recently active of that name, or of the title that name was
    given when it opened a session); UnknownSessionError if neither."""
    if name_or_id.isascii() and name_or_id.isdigit():
        try:
            return ledger.session(int(name_or_id))
        except UnknownSessionError:
            pass
    found = ledger.session_named(name_or_id) or ledger.session_named(title_from(name_or_id))
    if found is None:
        raise UnknownSessionError(f"no chat session with id or name {name_or_id!r} (llmdeck sessions list shows them)")
    return found


@dataclass(frozen=True, slots=True)
class SessionPick:
    """Where a chat goes: the session (an id, or a draft opened with the turn), the history to send before the
    prompt, and the settings it asks with."""

    session: int | SessionDraft
    history: list[Message]
    settings: ChatSettings


def pick_session(ledger: Ledger, name_or_id: str | None, *, new: bool, prompt: str, target: str | None,
                 given: ChatSettings) -> SessionPick:
    """The session of a CLI chat. `name_or_id` names one to continue: its history is sent, and its settings
    apply where `given` sets none. A name no session has yet, `new`, or no name at all open a new session with
    the turn. An id that is not there is UnknownSessionError (a mistyped id must not start a session named so)."""
    if name_or_id is not None and not new:
        try:
            record = find_session(ledger, name_or_id)
        except UnknownSessionError:
            if name_or_id.isascii() and name_or_id.isdigit():
                raise
        else:
            loaded = load_session(ledger, record.id)
            kept = loaded.settings
            settings = ChatSettings(given.system_prompt or kept.system_prompt, given.max_tokens or kept.max_tokens,
                                    kept.temperature if given.temperature is None else given.temperature)
            return SessionPick(record.id, loaded.history, settings)
    title = title_from(name_or_id if name_or_id is not None else prompt)
    return SessionPick(draft(title, target, given), [], given)


def load_session(ledger: Ledger, session_id: int) -> LoadedSession:
    """The session's transcript, history and turns; UnknownSessionError when there is no such session."""
    record = ledger.session(session_id)
    messages = ledger.messages(session_id)
    requests = ledger.session_requests(session_id)
    transcript: list[TranscriptEntry] = []
    history: list[Message] = []
    for message in messages:
        if message.role == "system":
            continue
        summary = _summary(message, requests) if message.role == "assistant" else None
        transcript.append(TranscriptEntry(message.role, message.content, summary))
        if message.content:
            history.append(Message(message.role, message.content))
    return LoadedSession(record, transcript, history, _turns(messages, requests))


def _summary(message: MessageRecord, requests: dict[int, RequestRecord]) -> TurnSummary:
    request = requests.get(message.request_id) if message.request_id is not None else None
    return TurnSummary.from_message(message, request)


def _turns(messages: list[MessageRecord], requests: dict[int, RequestRecord]) -> list[SessionTurn]:
    """Prompts paired with their answers; a prompt with none failed (its request row, when linked, says why)."""
    turns: list[SessionTurn] = []
    for message in messages:
        if message.role == "user":
            request = requests.get(message.request_id) if message.request_id is not None else None
            failed = TurnSummary("failed", reason=(request.error_message or "") if request else "")
            turns.append(SessionTurn(message.content, None, failed, message.created))
        elif message.role == "assistant":
            prompt = turns.pop() if turns and turns[-1].answer is None else None
            turns.append(SessionTurn(prompt.prompt if prompt else "", message.content, _summary(message, requests),
                                     prompt.created if prompt else message.created))
    return turns


def session_facts(record: SessionRecord, turns: int) -> dict[str, object]:
    """What `sessions list` shows of a session."""
    return {"id": record.id, "title": record.title, "target": record.target, "updated": _iso(record.updated),
            "turns": turns}


def session_document(loaded: LoadedSession) -> dict[str, object]:
    """The session and its turns as one JSON document (`sessions show --json`, `sessions export --format json`)."""
    record = loaded.record
    return {
        "id": record.id, "title": record.title, "target": record.target, "system_prompt": record.system_prompt,
        "params": record.params, "created": _iso(record.created), "updated": _iso(record.updated),
        "turns": [{"prompt": turn.prompt, "answer": turn.answer, "status": turn.summary.status,
                   "served_by": turn.summary.served_by, "fallbacks": list(turn.summary.fallbacks),
                   "ttft_ms": turn.summary.ttft_ms, "tokens_per_s": turn.summary.tokens_per_s,
                   "prompt_tokens": turn.summary.prompt_tokens, "completion_tokens": turn.summary.completion_tokens,
                   "usage_estimated": turn.summary.usage_estimated, "cost_usd": turn.summary.cost_usd,
                   "reason": turn.summary.reason, "created": _iso(turn.created)} for turn in loaded.turns],
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).astimezone().isoformat(timespec="seconds")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40] or "chat"


class SessionBook:
    """The Chat pane's sessions: async wrappers over the Deck's ledger (its calls are synchronous and may touch
    the disk)."""

    def __init__(self, deck: Deck) -> None:
        self.deck = deck

    def _ledger(self) -> Ledger:
        if self.deck.ledger is None:
            raise LedgerUnavailableError("the ledger is not open; sessions are not saved")
        return self.deck.ledger

    async def sessions(self) -> list[SessionRecord]:
        return await asyncio.to_thread(self._ledger().list_sessions)

    async def get(self, session_id: int) -> SessionRecord:
        return await asyncio.to_thread(self._ledger().session, session_id)

    async def create(self, title: str, target: str | None, settings: ChatSettings) -> SessionRecord:
        ledger = self._ledger()
        session_id = await asyncio.to_thread(ledger.new_session, title, target=target,
                                             system_prompt=settings.system_prompt or None, params=settings.params())
        return await asyncio.to_thread(ledger.session, session_id)

    async def rename(self, session_id: int, title: str) -> SessionRecord:
        ledger = self._ledger()
        await asyncio.to_thread(ledger.rename_session, session_id, title)
        return await asyncio.to_thread(ledger.session, session_id)

    async def delete(self, session_id: int) -> None:
        await asyncio.to_thread(self._ledger().delete_session, session_id)

    async def update(self, session_id: int, target: str | None, settings: ChatSettings) -> None:
        await asyncio.to_thread(self._ledger().update_session, session_id, target=target,
                                system_prompt=settings.system_prompt or None, params=settings.params())

    async def load(self, session_id: int) -> LoadedSession:
        return await asyncio.to_thread(load_session, self._ledger(), session_id)

    async def add_prompt(self, plan: TurnPlan) -> SessionRecord:
        """Keep a prompt that never became a request (an unknown target): the prompt alone, as a failed turn."""
        ledger = self._ledger()
        session = plan.session
        if not isinstance(session, int):
            session = await asyncio.to_thread(ledger.new_session, session.title, target=session.target,
                                              system_prompt=session.system_prompt, params=session.params)
        await asyncio.to_thread(ledger.add_message, session, "user", plan.prompt)
        return await asyncio.to_thread(ledger.session, session)

    async def export(self, session_id: int) -> Path:
        """Write the session as Markdown under the deck's output dir (the data dir but in the demo); return the
        file's path."""
        ledger = self._ledger()
        record = await asyncio.to_thread(ledger.session, session_id)
        markdown = await asyncio.to_thread(ledger.session_markdown, session_id)
        path = self.deck.output_dir / EXPORT_DIR / f"chat-{session_id}-{_slug(record.title)}.md"
        # The file is read in a terminal (`cat`, `less -R`): model text in it is made terminal-safe too.
        await asyncio.to_thread(write_text, path, terminal_safe(markdown))
        self.deck.uploads.saved("chats", path)
        return path


def write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` whole (a temporary file renamed into place), creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)
