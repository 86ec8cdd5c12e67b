"""The `:` commands typed before, newest last, kept in the data dir across runs. UI-free.

The file is a comfort, never a reason to fail: one that cannot be read, or is damaged, is ignored (and replaced at
the next save); one that cannot be written leaves the history in memory only. A command that holds a secret (a
key the process has read, or one by its shape) is never kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from providers.errors import redact
from providers.safe_text import one_line

HISTORY_FILE_NAME = "command_history.json"
MAX_COMMANDS = 500
MAX_COMMAND_CHARS = 1000
"""Longer lines are not kept: no command is that long, and the file stays small."""
MAX_FILE_BYTES = 1 << 20
"""A bigger file is not ours (500 commands of 1000 characters fit): it is ignored, not read."""


class CommandHistory:
    """Commands in the order last run, oldest first; a command run again moves to the end."""

    def __init__(self, path: Path | None = None, commands: Sequence[str] = ()) -> None:
        self.path = path
        self._commands: list[str] = list(commands)[-MAX_COMMANDS:]
        self._lock = threading.Lock()  # guards the list: saves run in worker threads
        self._write_lock = threading.Lock()  # one save at a time, each writing the newest list

    @classmethod
    def load(cls, path: Path) -> CommandHistory:
        """The history kept at `path`; empty when the file is missing, unreadable or damaged."""
        return cls(path, _read(path))

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(self._commands)

    def add(self, command: str) -> bool:
        """Remember `command` as the newest; False (and nothing kept) for a blank one, a very long one or one
        that holds a secret."""
        text = command.strip()
        if not text or text == ":" or len(text) > MAX_COMMAND_CHARS or redact(text) != text or one_line(text) != text:
            return False
        with self._lock:
            if text in self._commands:
                self._commands.remove(text)
            self._commands.append(text)
            del self._commands[:-MAX_COMMANDS]
        return True

    def save(self) -> None:
        """Write the history atomically (a temp file renamed over the old one); a failure keeps it in memory."""
        if self.path is None:
            return
        with self._write_lock:
            with self._lock:  # held only for the copy: adding a command never waits for the disk
                commands = list(self._commands)
            with contextlib.suppress(OSError):
                _write_atomically(self.path, json.dumps({"commands": commands}, ensure_ascii=False).encode())


def _read(path: Path) -> list[str]:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return []
        document = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return []
    commands = document.get("commands") if isinstance(document, dict) else None
    if not isinstance(commands, list):
        return []
    # Each line is checked as if typed now: whatever else the file holds is left out.
    kept = CommandHistory()
    for command in commands:
        if isinstance(command, str):
            kept.add(command)
    return list(kept.commands)


def _write_atomically(path: Path, data: bytes) -> None:
    """A temp file of its own (two consoles may share a data dir; mode 0600: commands are nobody else's),
    renamed over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


class HistoryWalk:
    """Up/Down through the history from what was typed: older and newer commands that start with it (all of them
    when only `:` was typed), newest first; walking past the newest gives back what was typed."""

    def __init__(self, commands: Sequence[str], typed: str) -> None:
        self.typed = typed
        prefix = typed.strip()
        self._matches = [c for c in reversed(commands) if c.startswith(prefix) and c != prefix]
        self._index = -1  # -1: what was typed; 0: the newest match

    def older(self) -> str | None:
        """The next older command, or None at the oldest (the line stays as it is)."""
        if self._index + 1 >= len(self._matches):
            return None
        self._index += 1
        return self._matches[self._index]

    def newer(self) -> str | None:
        """The next newer command, what was typed after the newest, or None when already there."""
        if self._index < 0:
            return None
        self._index -= 1
        return self.typed if self._index < 0 else self._matches[self._index]
