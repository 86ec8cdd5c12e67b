"""Running a reading tool (nvidia-smi, or ssh running it) bounded in time and output, as argv without a shell.

The child runs in a session of its own and is killed with its whole group on every way out without its answer:
the deadline, too much output, the caller's cancellation (a poller stopping). So a hung driver or a stalled ssh
never leaves processes behind, and a tool printing without end never fills memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

STDERR_BYTES: Final = 64 * 1024
"""How much of the error output is kept: enough for any message; the rest is read and dropped."""
REAP_S: Final = 5.0
"""How long to wait for a killed child to be reaped; SIGKILL makes this immediate in practice."""
_CHUNK: Final = 65536


class RunFailedError(Exception):
    """The tool gave no usable answer: it could not start, ran past its deadline, or printed too much. The
    message is one line, fit to show."""


@dataclass(frozen=True, slots=True)
class RunOutput:
    returncode: int
    stdout: bytes
    stderr: bytes
    """At most STDERR_BYTES: the start of what the tool said on its error output."""


async def run_bounded(argv: Sequence[str], *, timeout_s: float, max_bytes: int) -> RunOutput:
    """Run `argv` with stdin from /dev/null; its output once it exits. RunFailedError when it cannot start, does not
    finish within `timeout_s`, or prints more than `max_bytes` on stdout (it is killed then, with its group)."""
    name = Path(argv[0]).name
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise RunFailedError(f"could not run {name}: {exc.strerror or exc}") from None
    finished = False
    try:
        async with asyncio.timeout(timeout_s):
            stdout, stderr = await _collect(process, max_bytes)
            if stdout is None:
                raise RunFailedError(f"{name} printed more than {max_bytes // 1024} KiB")
            returncode = await process.wait()
        finished = True
    except TimeoutError:
        raise RunFailedError(f"{name} gave no answer within {timeout_s:g} s") from None
    finally:
        if not finished:
            await _kill_and_reap(process)
    return RunOutput(returncode, stdout, stderr)


async def _collect(process: asyncio.subprocess.Process, max_bytes: int) -> tuple[bytes | None, bytes]:
    """stdout (None when it overflowed) and the head of stderr, once both are closed."""
    assert process.stdout is not None  # both are PIPEs
    assert process.stderr is not None
    return await asyncio.gather(_read_limited(process, process.stdout, max_bytes),
                                _read_head(process.stderr, STDERR_BYTES))


async def _read_limited(process: asyncio.subprocess.Process, stream: asyncio.StreamReader,
                        max_bytes: int) -> bytes | None:
    """Everything on `stream`, or None once it passes `max_bytes`: the group is killed at once then, which also
    closes stderr, so nothing waits for a deadline."""
    kept = bytearray()
    while chunk := await stream.read(_CHUNK):
        kept += chunk
        if len(kept) > max_bytes:
            _kill_group(process)
            return None
    return bytes(kept)


async def _read_head(stream: asyncio.StreamReader, keep: int) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(_CHUNK):
        # Keep draining past the limit: a child blocked on a full pipe would never exit.
        kept += chunk[: max(0, keep - len(kept))]
    return bytes(kept)


async def _kill_and_reap(process: asyncio.subprocess.Process) -> None:
    """Kill the child's process group (ssh and what it started too), then wait for the child, bounded."""
    _kill_group(process)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), REAP_S)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
