"""The ledger: requests, chat sessions and messages, image jobs in SQLite; a completed turn survives kill -9."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from providers.errors import redact
from providers.ledger_failures import describe_failure, is_file_failure
from providers.ledger_schema import (
    IMAGE_COLUMNS,
    MESSAGE_COLUMNS,
    REQUEST_COLUMNS,
    SESSION_COLUMNS,
    ChatWritten,
    ImageRecord,
    LedgerError,
    MessageRecord,
    MessageRole,
    MessageStatus,
    RequestRecord,
    RequestRow,
    SessionDraft,
    SessionRecord,
    Turn,
    TurnRow,
    connect,
    image_record,
    message_record,
    migrate,
    request_record,
    session_record,
    user_version,
)
from providers.ledger_scrub import ScrubbedWriter

__all__ = ["ChatWritten", "ImageRecord", "Ledger", "LedgerError", "MessageRecord", "RequestRecord", "RequestRow",
           "SessionDraft", "SessionRecord", "Turn", "TurnRow", "UnknownSessionError"]

JsonObject = Mapping[str, object]
_ERROR_MESSAGE_LIMIT = 2000


def _json(value: JsonObject | None) -> str:
    return json.dumps(dict(value or {}), sort_keys=True, default=str)


class UnknownSessionError(LookupError):
    """A chat session id (or name) that is not (or no longer) in the ledger."""


class Ledger:
    """SQLite in WAL mode (see ledger_schema.connect for the durability choice). Every write is one
    transaction committed before the call returns. Safe from any thread, one at a time: a lock serialises
    every call, so the Deck may call it through asyncio.to_thread. Open with `Ledger.open(path)`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, clock: Callable[[], float] = time.time,
                 tz: tzinfo | None = None) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._tz = tz  # None: the machine's local day for "today"
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: Path | str, *, clock: Callable[[], float] = time.time, tz: tzinfo | None = None) -> Ledger:
        """Open or create the ledger at `path` (its directory is created), migrating it to the current schema.
        LedgerError, with one line saying what is wrong and what to do, when the directory cannot be made, the
        disk is full or read-only, the file is damaged, or a newer llmdeck wrote it."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(describe_failure(path, exc)) from exc
        try:
            migrate(conn)
        except LedgerError as exc:
            conn.close()
            raise LedgerError(f"{path}: {exc}") from None
        except (OSError, sqlite3.Error) as exc:
            conn.close()
            raise LedgerError(describe_failure(path, exc)) from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, clock=clock, tz=tz)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[ScrubbedWriter]:
        """One transaction; a failure of the file itself (disk full, read-only, damaged) is a LedgerError."""
        with self._lock:
            if self._closed:  # a write that came after the deck closed: say so, as for any other lost row
                raise LedgerError(f"the ledger {self.path} was closed before this row was written")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield ScrubbedWriter(self._conn)  # the one write path: no column can bypass the scrub
                    self._conn.execute("COMMIT")
                except BaseException:
                    # SQLite may already have rolled back (a full disk does): a second ROLLBACK would hide why.
                    if self._conn.in_transaction:
                        with suppress(sqlite3.Error):
                            self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if not is_file_failure(exc):
                    raise
                raise LedgerError(describe_failure(self.path, exc)) from exc

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, args).fetchall())
            except sqlite3.Error as exc:
                if not is_file_failure(exc):
                    raise
                raise LedgerError(describe_failure(self.path, exc)) from exc

    # --- facts about the file ---------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        with self._lock:
            return user_version(self._conn)

    def journal_mode(self) -> str:
        return str(self._read("PRAGMA journal_mode")[0][0])

    def integrity_check(self) -> str:
        """'ok', or SQLite's description of what is damaged."""
        return "; ".join(str(row[0]) for row in self._read("PRAGMA integrity_check"))

    # --- requests and spend --------------------------------------------------------------------------------

    def record_request(self, *, provider: str | None, model: str | None, status: str, alias: str | None = None,
                       hop: int | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
                       cost_usd: float = 0.0, ttft_ms: float | None = None, latency_ms: float | None = None,
                       error_kind: str | None = None, error_message: str | None = None,
                       ts: float | None = None, usage_estimated: bool = False) -> int:
        """Write one request row (status ok | cut | error | cancelled) and return its id once committed.
        The error message is redacted of anything that looks like a credential. `usage_estimated`: the token
        counts were counted by llmdeck because the server sent none."""
        row = RequestRow(provider, model, status, alias, hop, prompt_tokens, completion_tokens, cost_usd, ttft_ms,
                         latency_ms, error_kind, error_message, usage_estimated, ts)
        with self._write() as db:
            return self._insert_request(db, row)

    def record_chat(self, request: RequestRow, turn: TurnRow | None = None) -> ChatWritten:
        """Write a chat's request row and its turn in one transaction, each message linked to the row by
        `request_id`: after a kill -9 either all of it is there or none. A draft session is opened in the same
        transaction. UnknownSessionError (nothing written) when the turn's session is gone."""
        with self._write() as db:
            request_id = self._insert_request(db, request)
            if turn is None:
                return ChatWritten(request_id)
            session_id = turn.session if isinstance(turn.session, int) else self._insert_session(db, turn.session)
            user_id = self._insert_message(db, session_id, "user", turn.prompt, "complete", None, None, request_id)
            answer_id = None if turn.answer is None else self._insert_message(
                db, session_id, "assistant", turn.answer, turn.status, turn.served_by, turn.meta, request_id)
            return ChatWritten(request_id, session_id, user_id, answer_id)

    def _insert_request(self, db: ScrubbedWriter, row: RequestRow) -> int:
        message = redact(row.error_message)[:_ERROR_MESSAGE_LIMIT] if row.error_message else None
        cursor = db.execute(
            "INSERT INTO requests (ts, alias, hop, provider, model, prompt_tokens, completion_tokens, cost_usd,"
            " ttft_ms, latency_ms, status, error_kind, error_message, usage_estimated)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self._now(row.ts), row.alias, row.hop, row.provider, row.model, row.prompt_tokens,
             row.completion_tokens, row.cost_usd, row.ttft_ms, row.latency_ms, row.status, row.error_kind, message,
             int(row.usage_estimated)))
        return int(cursor.lastrowid or 0)

    def spend_since(self, provider: str | None, since: float) -> float:
        """USD recorded for `provider` (None: every provider) at or after the epoch time `since`."""
        if provider is None:
            rows = self._read("SELECT TOTAL(cost_usd) FROM requests WHERE ts >= ?", (since,))
        else:
            rows = self._read("SELECT TOTAL(cost_usd) FROM requests WHERE provider = ? AND ts >= ?",
                              (provider, since))
        return float(rows[0][0] or 0.0)

    def spend_today_by_provider(self, now: float | None = None) -> dict[str, float]:
        """Provider → USD since local midnight (the day a daily budget counts)."""
        local = datetime.fromtimestamp(self._now(now), tz=UTC).astimezone(self._tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        rows = self._read("SELECT provider, TOTAL(cost_usd) FROM requests WHERE ts >= ? AND provider IS NOT NULL"
                          " GROUP BY provider", (midnight,))
        return {str(provider): float(total) for provider, total in rows}

    def recent_requests(self, limit: int = 100) -> list[RequestRecord]:
        """The newest request rows first."""
        rows = self._read(f"SELECT {REQUEST_COLUMNS} FROM requests ORDER BY id DESC LIMIT ?", (limit,))
        return [request_record(row) for row in rows]

    def session_requests(self, session_id: int) -> dict[int, RequestRecord]:
        """The request rows the session's messages are linked to, by id."""
        rows = self._read(f"SELECT {REQUEST_COLUMNS} FROM requests WHERE id IN"
                          " (SELECT request_id FROM messages WHERE session_id = ?)", (session_id,))
        return {record.id: record for record in map(request_record, rows)}

    # --- sessions -----------------------------------------------------------------------------------------

    def new_session(self, title: str = "New chat", *, target: str | None = None, system_prompt: str | None = None,
                    params: JsonObject | None = None) -> int:
        with self._write() as db:
            return self._insert_session(db, SessionDraft(title, target, system_prompt, dict(params or {})))

    def _insert_session(self, db: ScrubbedWriter, draft: SessionDraft) -> int:
        now = self._now()
        cursor = db.execute("INSERT INTO sessions (title, created, updated, target, system_prompt, params)"
                            " VALUES (?,?,?,?,?,?)",
                            (draft.title, now, now, draft.target, draft.system_prompt, _json(draft.params)))
        return int(cursor.lastrowid or 0)

    def rename_session(self, session_id: int, title: str) -> None:
        """UnknownSessionError when there is no such session."""
        with self._write() as db:
            if db.execute("UPDATE sessions SET title = ?, updated = ? WHERE id = ?",
                          (title, self._now(), session_id)).rowcount == 0:
                raise UnknownSessionError(f"no chat session {session_id}")

    def update_session(self, session_id: int, *, target: str | None, system_prompt: str | None,
                       params: JsonObject | None = None) -> None:
        """Set what the session talks to and how. UnknownSessionError when there is no such session."""
        with self._write() as db:
            if db.execute("UPDATE sessions SET target = ?, system_prompt = ?, params = ?, updated = ? WHERE id = ?",
                          (target, system_prompt, _json(params), self._now(), session_id)).rowcount == 0:
                raise UnknownSessionError(f"no chat session {session_id}")

    def delete_session(self, session_id: int) -> None:
        """Delete a session and all its messages (ON DELETE CASCADE) in one transaction."""
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def session(self, session_id: int) -> SessionRecord:
        """UnknownSessionError when there is no such session."""
        rows = self._read(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            raise UnknownSessionError(f"no chat session {session_id}")
        return session_record(rows[0])

    def list_sessions(self, limit: int | None = None) -> list[SessionRecord]:
        """Most recently active first."""
        rows = self._read(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY updated DESC, id DESC LIMIT ?",
                          (-1 if limit is None else limit,))
        return [session_record(row) for row in rows]

    def session_named(self, title: str) -> SessionRecord | None:
        """The most recently active session with exactly this title."""
        rows = self._read(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE title = ? ORDER BY updated DESC, id DESC"
                          " LIMIT 1", (title,))
        return session_record(rows[0]) if rows else None

    def turn_counts(self) -> dict[int, int]:
        """Session id → the prompts it holds (one per turn)."""
        rows = self._read("SELECT session_id, COUNT(*) FROM messages WHERE role = 'user' GROUP BY session_id")
        return {int(session_id): int(count) for session_id, count in rows}

    # --- messages -----------------------------------------------------------------------------------------

    def add_message(self, session_id: int, role: MessageRole, content: str, status: MessageStatus = "complete",
                    served_by: str | None = None, meta: JsonObject | None = None) -> int:
        """Write one message (a system prompt, or a user message whose answer never started)."""
        with self._write() as db:
            return self._insert_message(db, session_id, role, content, status, served_by, meta, None)

    def add_turn(self, session_id: int, user_content: str, answer: str, *, status: MessageStatus = "complete",
                 served_by: str | None = None, meta: JsonObject | None = None) -> Turn:
        """Write the user's message and the assistant's answer in one transaction, when the turn ends:
        after a kill -9 either both are there or neither. `status` is the answer's (cut keeps partial text)."""
        with self._write() as db:
            user_id = self._insert_message(db, session_id, "user", user_content, "complete", None, None, None)
            answer_id = self._insert_message(db, session_id, "assistant", answer, status, served_by, meta, None)
            return Turn(user_id, answer_id)

    def _insert_message(self, db: ScrubbedWriter, session_id: int, role: MessageRole, content: str,
                        status: MessageStatus, served_by: str | None, meta: JsonObject | None,
                        request_id: int | None) -> int:
        now = self._now()
        if db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id)).rowcount == 0:
            raise UnknownSessionError(f"no chat session {session_id}")
        cursor = db.execute(
            "INSERT INTO messages (session_id, role, content, created, status, served_by, meta, request_id)"
            " VALUES (?,?,?,?,?,?,?,?)", (session_id, role, content, now, status, served_by, _json(meta), request_id))
        return int(cursor.lastrowid or 0)

    def messages(self, session_id: int) -> list[MessageRecord]:
        """The session's messages in the order they were written."""
        rows = self._read(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? ORDER BY id", (session_id,))
        return [message_record(row) for row in rows]

    # --- images -------------------------------------------------------------------------------------------

    def record_image(self, *, provider: str, model: str | None, prompt: str, params: JsonObject | None = None,
                     path: str | None = None, ms: float | None = None, ts: float | None = None) -> int:
        with self._write() as db:
            cursor = db.execute("INSERT INTO images (ts, provider, model, prompt, params, path, ms)"
                                " VALUES (?,?,?,?,?,?,?)", (self._now(ts), provider, model, prompt, _json(params),
                                                             path, ms))
            return int(cursor.lastrowid or 0)

    def recent_images(self, limit: int = 50) -> list[ImageRecord]:
        rows = self._read(f"SELECT {IMAGE_COLUMNS} FROM images ORDER BY id DESC LIMIT ?", (limit,))
        return [image_record(row) for row in rows]

    # --- export -------------------------------------------------------------------------------------------

    def session_markdown(self, session_id: int) -> str:
        """The session as Markdown; cut and cancelled answers say so."""
        return session_markdown(self.session(session_id), self.messages(session_id), self._tz)

    def _now(self, given: float | None = None) -> float:
        return self._clock() if given is None else given


_ROLE_HEADINGS = {"system": "System", "user": "You", "assistant": "Assistant"}
_STATUS_NOTES = {
    "cut": "_(answer cut: the stream broke before the model finished)_",
    "cancelled": "_(cancelled before the model finished)_",
}


def session_markdown(session: SessionRecord, messages: list[MessageRecord], tz: tzinfo | None = None) -> str:
    """Render a session and its messages as a Markdown document."""
    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, tz=UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    lines = [f"# {session.title}", ""]
    facts = [f"created {when(session.created)}"] + ([f"target `{session.target}`"] if session.target else [])
    lines += ["_" + " · ".join(facts) + "_", ""]
    if session.system_prompt:
        lines += ["## System prompt", "", session.system_prompt, ""]
    for message in messages:
        heading = _ROLE_HEADINGS[message.role]
        if message.role == "assistant" and message.served_by:
            heading += f" · {message.served_by}"
        lines += [f"## {heading}", "", message.content, ""]
        if message.status in _STATUS_NOTES:
            lines += [_STATUS_NOTES[message.status], ""]
    return "\n".join(lines).rstrip() + "\n"
