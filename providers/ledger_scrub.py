"""The ledger's only way to write: every text parameter is scrubbed of secrets before SQLite sees it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from config.secret_registry import scrub


def scrubbed(args: Iterable[object]) -> tuple[object, ...]:
    """The parameters with every registered secret (and its encodings) removed from each string.

    Error messages, answers, model names, titles and JSON columns all come from places a backend can reach; one
    scrub here means no column can carry a key into the file, its WAL or a backup of it. Only the known values
    are removed: the key-shape patterns of `redact` would also cut harmless text out of a chat's history, so they
    are applied to error messages alone (Ledger.record_request).
    """
    return tuple(scrub(arg) if isinstance(arg, str) else arg for arg in args)


class ScrubbedWriter:
    """A connection inside a write transaction that only executes with scrubbed parameters."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Iterable[object] = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, scrubbed(args))
