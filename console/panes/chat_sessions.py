"""SessionBook: the chat pane's sessions in the Deck's ledger; every ledger call runs in a thread."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from console.screens.chat_settings import ChatSettings
from console.widgets.chat_log import TranscriptEntry
from console.widgets.chat_turn import TurnSummary
from providers.base import Message
from providers.deck import Deck
from providers.ledger import Ledger, SessionRecord
from providers.safe_text import one_line, terminal_safe

DEFAULT_TITLE = "New chat"
TITLE_LENGTH = 48
EXPORT_DIR = "exports"


class LedgerUnavailableError(RuntimeError):
    """The Deck has no open ledger (not started, or stopping): sessions cannot be read or written."""


@dataclass(frozen=True, slots=True)
class LoadedSession:
    """A session with what the log shows and what the next request sends as history."""

    record: SessionRecord
    transcript: list[TranscriptEntry]
    history: list[Message]


def title_from(prompt: str) -> str:
    """A session title from the first line of its first prompt."""
    # A title is shown in lists, dialogs and file names: one terminal-safe line.
    first = one_line(prompt.strip().splitlines()[0]) if prompt.strip() else DEFAULT_TITLE
    return first if len(first) <= TITLE_LENGTH else first[:TITLE_LENGTH - 1] + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40] or "chat"


class SessionBook:
    """Async wrappers over the ledger's session methods (they are synchronous and may touch the disk)."""

    def __init__(self, deck: Deck) -> None:
        self.deck = deck

    def _ledger(self) -> Ledger:
        if self.deck.ledger is None:
            raise LedgerUnavailableError("the ledger is not open; sessions are not saved")
        return self.deck.ledger

    async def sessions(self) -> list[SessionRecord]:
        return await asyncio.to_thread(self._ledger().list_sessions)

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
        ledger = self._ledger()
        record = await asyncio.to_thread(ledger.session, session_id)
        messages = await asyncio.to_thread(ledger.messages, session_id)
        transcript: list[TranscriptEntry] = []
        history: list[Message] = []
        for message in messages:
            if message.role == "system":
                continue
            summary = TurnSummary.from_meta(message.meta, message.status) if message.role == "assistant" else None
            transcript.append(TranscriptEntry(message.role, message.content, summary))
            if message.content:
                history.append(Message(message.role, message.content))
        return LoadedSession(record, transcript, history)

    async def add_turn(self, session_id: int, prompt: str, answer: str, summary: TurnSummary) -> None:
        """Write the turn when it ends. A turn that failed before any text keeps only the prompt (the ledger's
        statuses are complete / cut / cancelled: there is no answer to mark)."""
        ledger = self._ledger()
        if summary.status == "failed":
            await asyncio.to_thread(ledger.add_message, session_id, "user", prompt)
            return
        await asyncio.to_thread(ledger.add_turn, session_id, prompt, answer, status=summary.status,
                                served_by=summary.served_by, meta=summary.to_meta())

    async def export(self, session_id: int) -> Path:
        """Write the session as Markdown under the data dir; return the file's path."""
        ledger = self._ledger()
        record = await asyncio.to_thread(ledger.session, session_id)
        markdown = await asyncio.to_thread(ledger.session_markdown, session_id)
        path = self.deck.data_dir / EXPORT_DIR / f"chat-{session_id}-{_slug(record.title)}.md"
        # The file is read in a terminal (`cat`, `less -R`): model text in it is made terminal-safe too.
        await asyncio.to_thread(_write_text, path, terminal_safe(markdown))
        return path


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(path)
