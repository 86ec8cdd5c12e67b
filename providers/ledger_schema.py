"""The ledger's SQLite schema: connection settings, the ordered migrations (PRAGMA user_version), row records."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MessageRole = Literal["system", "user", "assistant"]
MessageStatus = Literal["complete", "cut", "cancelled"]


class LedgerError(Exception):
    """The ledger file cannot be used: written by a newer llmdeck, or not switchable to WAL."""


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1 — one row per routed request, chat sessions and their messages, image jobs.
    (
        """CREATE TABLE requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            alias TEXT,
            hop INTEGER,
            provider TEXT,
            model TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            ttft_ms REAL,
            latency_ms REAL,
            status TEXT NOT NULL,
            error_kind TEXT,
            error_message TEXT)""",
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            target TEXT,
            system_prompt TEXT,
            params TEXT NOT NULL DEFAULT '{}')""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            created REAL NOT NULL,
            status TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'cut', 'cancelled')),
            served_by TEXT,
            meta TEXT NOT NULL DEFAULT '{}')""",
        """CREATE TABLE images (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            provider TEXT NOT NULL,
            model TEXT,
            prompt TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            path TEXT,
            ms REAL)""",
    ),
    # 2 — indexes for the queries that run on every start and every chat: spend sums, session listing.
    (
        "CREATE INDEX requests_by_provider_ts ON requests (provider, ts)",
        "CREATE INDEX requests_by_ts ON requests (ts)",
        "CREATE INDEX messages_by_session ON messages (session_id, id)",
        "CREATE INDEX sessions_by_updated ON sessions (updated)",
        "CREATE INDEX images_by_ts ON images (ts)",
    ),
    # 3 — 1 where the token counts were counted by llmdeck because the server sent no usage.
    ("ALTER TABLE requests ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0",),
    # 4 — a chat turn's messages name the request row written with them (tokens, cost and TTFT live there);
    # NULL in rows written before, whose meta still carries those facts.
    ("ALTER TABLE messages ADD COLUMN request_id INTEGER REFERENCES requests(id)",),
)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating) the database at `path` in WAL mode with durable commits.

    Durability: in WAL mode a COMMIT appends the transaction to the -wal file with write(2) before returning.
    A kill -9 of this process therefore never loses a committed transaction even with synchronous=NORMAL —
    the bytes are in the OS page cache and SQLite replays the WAL on the next open; only an OS crash or power
    loss can drop the last commits under NORMAL. We use synchronous=FULL, which adds an fsync of the WAL per
    commit, so a turn shown as done also survives power loss. Commits are one per turn or request row (a few
    per second at most), so the fsync costs nothing the operator can notice.

    Threads: the connection is made with check_same_thread=False so it may be used from asyncio.to_thread
    workers; the Ledger serialises every use with a lock (one thread at a time), as sqlite3 requires.
    """
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    try:
        mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        if mode.lower() != "wal":
            raise LedgerError(f"{path}: the ledger needs WAL journaling but SQLite kept {mode!r}")
        conn.execute("PRAGMA synchronous=FULL")
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    return conn


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: tuple[tuple[str, ...], ...] = MIGRATIONS) -> int:
    """Apply the migrations the file has not seen, each in its own transaction with its version bump, so a
    crash leaves the file at a whole version. Returns the version reached."""
    target = len(migrations)
    while True:
        conn.execute("BEGIN IMMEDIATE")  # the version is read under the write lock: two openers never race
        try:
            version = user_version(conn)
            if version > target:
                raise LedgerError(f"the ledger has schema version {version}; this llmdeck knows up to {target} — "
                                  "upgrade llmdeck or point LLMDECK_DATA_DIR elsewhere")
            if version == target:
                conn.execute("COMMIT")
                return version
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One routed request as written: which hop served it, tokens, cost, timings, outcome."""

    id: int
    ts: float
    alias: str | None
    hop: int | None
    provider: str | None
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    ttft_ms: float | None
    latency_ms: float | None
    status: str
    error_kind: str | None
    error_message: str | None
    usage_estimated: bool = False
    """The token counts were counted by llmdeck (tokenizer or estimate): the server sent no usage."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    title: str
    created: float
    updated: float
    target: str | None
    system_prompt: str | None
    params: dict[str, object]


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    session_id: int
    role: MessageRole
    content: str
    created: float
    status: MessageStatus
    served_by: str | None
    meta: dict[str, object]
    request_id: int | None = None
    """The request row written in the same transaction (None before schema 4, and for lone messages)."""


@dataclass(frozen=True, slots=True)
class ImageRecord:
    id: int
    ts: float
    provider: str
    model: str | None
    prompt: str
    params: dict[str, object]
    path: str | None
    ms: float | None


@dataclass(frozen=True, slots=True)
class Turn:
    """The ids of a turn's two messages, written together."""

    user_id: int
    answer_id: int


@dataclass(frozen=True, slots=True)
class RequestRow:
    """One routed request as it is written (status ok | cut | error | cancelled)."""

    provider: str | None
    model: str | None
    status: str
    alias: str | None = None
    hop: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    ttft_ms: float | None = None
    latency_ms: float | None = None
    error_kind: str | None = None
    error_message: str | None = None
    usage_estimated: bool = False
    ts: float | None = None


@dataclass(frozen=True, slots=True)
class SessionDraft:
    """A session to open in the same transaction as its first turn."""

    title: str
    target: str | None = None
    system_prompt: str | None = None
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TurnRow:
    """A chat turn written with its request row: the prompt, and the answer unless none was given (a turn that
    failed before any text keeps the prompt alone)."""

    session: int | SessionDraft
    prompt: str
    answer: str | None
    status: MessageStatus = "complete"
    served_by: str | None = None
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatWritten:
    """The ids one chat's transaction wrote; the turn's are None when it had none."""

    request_id: int
    session_id: int | None = None
    user_id: int | None = None
    answer_id: int | None = None


def json_object(text: str | None) -> dict[str, object]:
    """A JSON column as a dict; anything else (damaged or not an object) reads as empty."""
    try:
        loaded = json.loads(text or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


REQUEST_COLUMNS = ("id, ts, alias, hop, provider, model, prompt_tokens, completion_tokens, cost_usd, ttft_ms,"
                   " latency_ms, status, error_kind, error_message, usage_estimated")
SESSION_COLUMNS = "id, title, created, updated, target, system_prompt, params"
MESSAGE_COLUMNS = "id, session_id, role, content, created, status, served_by, meta, request_id"
IMAGE_COLUMNS = "id, ts, provider, model, prompt, params, path, ms"


def request_record(row: sqlite3.Row) -> RequestRecord:
    return RequestRecord(
        id=row["id"], ts=row["ts"], alias=row["alias"], hop=row["hop"], provider=row["provider"], model=row["model"],
        prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"], cost_usd=row["cost_usd"],
        ttft_ms=row["ttft_ms"], latency_ms=row["latency_ms"], status=row["status"], error_kind=row["error_kind"],
        error_message=row["error_message"], usage_estimated=bool(row["usage_estimated"]))


def session_record(row: sqlite3.Row) -> SessionRecord:
    return SessionRecord(id=row["id"], title=row["title"], created=row["created"], updated=row["updated"],
                         target=row["target"], system_prompt=row["system_prompt"], params=json_object(row["params"]))


def message_record(row: sqlite3.Row) -> MessageRecord:
    return MessageRecord(id=row["id"], session_id=row["session_id"], role=row["role"], content=row["content"],
                         created=row["created"], status=row["status"], served_by=row["served_by"],
                         meta=json_object(row["meta"]), request_id=row["request_id"])


def image_record(row: sqlite3.Row) -> ImageRecord:
    return ImageRecord(id=row["id"], ts=row["ts"], provider=row["provider"], model=row["model"], prompt=row["prompt"],
                       params=json_object(row["params"]), path=row["path"], ms=row["ms"])
