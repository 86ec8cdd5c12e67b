"""How a CLI chat ends early and what it keeps: an exit signal (SIGINT, SIGHUP, SIGTERM) or a reader that closed
stdout stops the stream; leaving the run then writes the prompt with the partial answer as a cancelled turn."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGHUP, signal.SIGTERM)
PIPE_CLOSED_EXIT = 1
"""A reader that left early is not an error worth a word, but the output was not all delivered: exit 1, as the
commands printing Rich tables do (Rich ends them that way on a broken pipe)."""
GRACE_S = 5.0
"""After a signal, how long writing the turn and closing may take before the process ends anyway (the write
takes milliseconds; SQLite may wait up to its 5 s busy timeout for another writer)."""


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so no later write or the interpreter's final flush
    raises BrokenPipeError again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class ChatStop:
    """While a chat streams: the first exit signal cancels it (the ledger row and the turn are then written);
    a second one leaves at once, since everything committed is already on disk. A closed stdout stops it too.

    The handler runs in the main thread itself rather than on the event loop (`loop.add_signal_handler`): a loop
    stuck in a write to a stdout nobody reads would never see the signal. It asks the loop to cancel the chat
    and arms a watchdog that ends the process if the orderly end has not come in time."""

    def __init__(self, *, grace_s: float = GRACE_S) -> None:
        self.signal: int | None = None
        self.pipe_closed = False
        self.grace_s = grace_s
        self._task: asyncio.Task[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> ChatStop:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for number in STOP_SIGNALS:
            self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *_: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]

    def _on_signal(self, number: int, _frame: FrameType | None) -> None:
        if self.signal is not None:
            os._exit(128 + number)  # asked twice: leave now
        self.signal = number
        # Never disarmed: a normal end comes first and the timer's thread is a daemon.
        watchdog = threading.Timer(self.grace_s, os._exit, args=(128 + number,))
        watchdog.daemon = True
        watchdog.start()
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)

    @property
    def stopped(self) -> bool:
        return self.signal is not None or self.pipe_closed

    @property
    def reason(self) -> str:
        """Why the chat stopped early, as its cancelled turn keeps it; empty while it has not."""
        if self.pipe_closed:
            return "stopped: the reader closed the pipe"
        return f"stopped by {signal.Signals(self.signal).name}" if self.signal is not None else ""

    def write(self, text: str) -> None:
        """Show streamed text; BrokenPipeError (the reader left) marks the chat as stopped and propagates, so the
        stream is left and closed."""
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            self.pipe_closed = True
            silence_stdout()
            raise

    def absorb(self, exc: BaseException) -> None:
        """Take the stream's ending when this stop caused it; anything else is re-raised."""
        if isinstance(exc, asyncio.CancelledError) and self.signal is not None:
            if self._task is not None:
                self._task.uncancel()  # handled: the turn is written and the command ends normally
            return
        if isinstance(exc, BrokenPipeError) and self.pipe_closed:
            return
        raise exc

    def exit_code(self) -> int:
        """128 + the signal, or the closed pipe's code; a signal also says on stderr what was kept."""
        if self.signal is None:
            return PIPE_CLOSED_EXIT
        name = signal.Signals(self.signal).name
        with contextlib.suppress(OSError):  # after SIGHUP the terminal may be gone
            sys.stderr.write(f"llmdeck: chat stopped by {name}; the prompt and the partial answer are kept in "
                             "the ledger, marked cancelled\n")
            sys.stderr.flush()
        return 128 + self.signal
