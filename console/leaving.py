"""Leaving when the terminal does: a hang-up, SIGTERM or SIGINT always ends the console, even if the terminal is
gone or shutdown is stuck.

Two things could keep the process alive after its terminal went away:
- Textual's output thread dies on the first write to a hung-up pty (EIO), its bounded queue fills, and the next
  write (or the shutdown's stop) blocks the main thread for ever. `ResilientWriterThread` keeps draining after a
  failed write and never blocks once leaving has begun.
- A handler added with `loop.add_signal_handler` runs on the event loop, so a blocked loop ignores the signal.
  `ExitGuard` handles the signal in the main thread itself, asks the app to exit, and arms a watchdog that ends
  the process if the orderly exit has not finished in time. Finished turns and ledger rows are already committed
  (SQLite WAL, synchronous=FULL), so the watchdog loses nothing that was done.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import termios
import threading
import time
import weakref
from collections.abc import Callable
from types import FrameType
from typing import IO

from textual.drivers import linux_driver
from textual.drivers._writer_thread import WriterThread

EXIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
GRACE_S = 2.5
"""How long an orderly exit may take after a signal before the watchdog ends the process."""
STOP_TIMEOUT_S = 1.0
"""How long the output thread may take to write what is queued when the console closes."""

TERMINAL_POLL_S = 1.0
"""How often the console looks whether its terminal is still there."""

_writers: weakref.WeakSet[ResilientWriterThread] = weakref.WeakSet()


class ResilientWriterThread(WriterThread):
    """Textual's output thread, made safe for a terminal that disappears: a failed write marks it broken and it
    keeps emptying its queue; once leaving has begun, writes never wait for room."""

    def __init__(self, file: IO[str]) -> None:
        super().__init__(file)
        self.broken = False
        self.leaving = False
        _writers.add(self)

    def write(self, text: str) -> None:
        if self.broken:
            return
        if self.leaving:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(text)
            return
        self._queue.put(text)  # back-pressure from a slow link is right while the console runs

    def run(self) -> None:
        try:
            super().run()
        except (OSError, ValueError):  # EIO from a hung-up pty, or a closed file
            self.broken = True
            while self._queue.get() is not None:  # keep the queue empty so nothing waits on it
                pass

    def stop(self) -> None:
        self.leaving = True
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=STOP_TIMEOUT_S)
        self.join(STOP_TIMEOUT_S)


def _terminal_alive() -> bool:
    """The controlling terminal still answers (a hung-up pty fails every request with EIO)."""
    try:
        termios.tcgetattr(sys.__stdin__.fileno() if sys.__stdin__ else 0)
    except (termios.error, OSError, ValueError):
        return False
    return True


def use_resilient_output() -> None:
    """Make Textual's Linux driver write through `ResilientWriterThread` (it looks the class up when the app
    enters application mode)."""
    linux_driver.WriterThread = ResilientWriterThread  # type: ignore[attr-defined]


class ExitGuard:
    """Signal handling for the console's lifetime: the first exit signal asks for an orderly exit and arms the
    watchdog; a second one, or the watchdog, ends the process at once."""

    def __init__(self, request_exit: Callable[[], None], *, grace_s: float = GRACE_S) -> None:
        self.request_exit = request_exit
        self.grace_s = grace_s
        self.signalled: int | None = None
        self._previous: dict[int, object] = {}
        self._watchdog: threading.Timer | None = None

    def __enter__(self) -> ExitGuard:
        for number in EXIT_SIGNALS:
            self._previous[number] = signal.signal(number, self._on_signal)
        if _terminal_alive():
            threading.Thread(target=self._watch_terminal, name="llmdeck-hangup", daemon=True).start()
        return self

    def _watch_terminal(self) -> None:
        """Only the session leader gets SIGHUP when a terminal goes away: run under `make`, a wrapper script or
        a shell that does not pass it on, the console would never hear of it. A terminal that answers no more
        is taken as the hang-up it is."""
        while self.signalled is None:
            time.sleep(TERMINAL_POLL_S)  # noqa: TID251 - a thread of its own, not the event loop
            if not _terminal_alive():
                self._on_signal(signal.SIGHUP, None)
                return

    def __exit__(self, *_: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]
        self.arm_watchdog()  # from here on only cleanup runs; it too must end in time

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        if self.signalled is not None:
            os._exit(128 + number)  # asked twice: leave now
        self.signalled = number
        for writer in list(_writers):
            writer.leaving = True
        self.arm_watchdog()
        self.request_exit()

    def arm_watchdog(self) -> None:
        if self._watchdog is not None:
            return
        code = 128 + self.signalled if self.signalled is not None else 1
        self._watchdog = threading.Timer(self.grace_s, os._exit, args=(code,))
        self._watchdog.daemon = True
        self._watchdog.start()

    def disarm(self) -> None:
        """Called once cleanup has finished: the process is about to return normally."""
        if self._watchdog is not None:
            self._watchdog.cancel()
