"""Why the ledger cannot be opened or written, as one line that says what is wrong and what to do."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from config.paths import DATA_DIR_ENV

ELSEWHERE = f"or set {DATA_DIR_ENV} to another directory"

# SQLite's primary result codes (the low byte of an extended code), as Python's sqlite3 reports them.
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26


def _first_missing_dir(path: Path) -> tuple[Path, Path | None]:
    """The nearest existing ancestor of `path`, and the non-directory in the way if that ancestor is a file."""
    current = path
    while not current.exists() and current != current.parent:
        current = current.parent
    return current, (current if not current.is_dir() else None)


def _read_only(path: Path) -> bool:
    existing, _ = _first_missing_dir(path)
    try:
        return bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _no_room(path: Path) -> bool:
    """The file system holding `path` has no block left (SQLite reports a full disk met while growing its WAL
    index as an I/O error)."""
    existing, _ = _first_missing_dir(path)
    try:
        return os.statvfs(existing).f_bavail == 0
    except OSError:
        return False


def _describe_os_error(ledger: Path, exc: OSError) -> str:
    data_dir = ledger.parent
    _, blocker = _first_missing_dir(data_dir)
    if blocker is not None or exc.errno in (errno.ENOTDIR, errno.EEXIST):
        where = blocker or data_dir
        return f"cannot create the data dir {data_dir}: {where} is a file, not a directory — move it {ELSEWHERE}"
    if exc.errno == errno.EROFS or _read_only(data_dir):
        return f"the data dir {data_dir} is on a read-only file system — remount it writable {ELSEWHERE}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write the data dir {data_dir} — fix its permissions {ELSEWHERE}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or _no_room(data_dir):
        return f"no space left for the ledger in {data_dir} — free some space on that disk {ELSEWHERE}"
    reason = exc.strerror or type(exc).__name__
    return f"cannot use the data dir {data_dir}: {reason} — check it {ELSEWHERE}"


def _describe_sqlite_error(ledger: Path, exc: sqlite3.Error) -> str:
    code = int(getattr(exc, "sqlite_errorcode", -1)) & 0xFF
    text = str(exc)
    if code in (_SQLITE_NOTADB, _SQLITE_CORRUPT) or "not a database" in text or "malformed" in text:
        return (f"the ledger {ledger} is damaged (SQLite: {text}) — move it aside to start a new history "
                f"{ELSEWHERE}")
    if code == _SQLITE_FULL or "disk is full" in text or (code == _SQLITE_IOERR and _no_room(ledger)):
        return f"no space left for the ledger {ledger} — free some space on that disk {ELSEWHERE}"
    if _read_only(ledger):
        return f"the data dir {ledger.parent} is on a read-only file system — remount it writable {ELSEWHERE}"
    if code == _SQLITE_READONLY:
        return f"the ledger {ledger} is read-only — make it and its directory writable {ELSEWHERE}"
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return f"the ledger {ledger} is locked by another process — close it, or try again"
    if code in (_SQLITE_CANTOPEN, _SQLITE_PERM):
        if not os.access(ledger.parent, os.W_OK):
            return f"no permission to write the data dir {ledger.parent} — fix its permissions {ELSEWHERE}"
        return f"cannot open the ledger {ledger} (SQLite: {text}) — check that path {ELSEWHERE}"
    if code == _SQLITE_IOERR:
        return f"the disk failed while writing the ledger {ledger} (SQLite: {text}) — check that disk {ELSEWHERE}"
    return f"the ledger {ledger} cannot be used (SQLite: {text}) — check it {ELSEWHERE}"


def is_file_failure(exc: BaseException) -> bool:
    """A failure of the file or its disk (full, read-only, locked, damaged), not a mistake in the SQL we send
    (a constraint or programming error stays what it is)."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def describe_failure(ledger: Path, exc: OSError | sqlite3.Error) -> str:
    """What went wrong with the ledger at `ledger` and what the operator can do, on one line."""
    message = _describe_os_error(ledger, exc) if isinstance(exc, OSError) else _describe_sqlite_error(ledger, exc)
    return " ".join(message.split())  # a path with a newline in it must not break the one line
