"""Waiting on conditions, never on time: the one way every test waits.

A test waits for a state (a status, an event, text on screen). The deadline only bounds a hang: it is far above
the normal time, so a loaded machine (CI shares its box) makes a test slower, never red.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

HANG_S = 60.0
"""How long a wait may take before the test calls it a hang."""

POLL_S = 0.02

T = TypeVar("T")


async def wait_for_condition(condition: Callable[[], object], *, what: str = "condition",
                             timeout_s: float = HANG_S,
                             pause: Callable[[], Awaitable[Any]] | None = None) -> None:
    """Run the event loop until `condition()` holds; `pause` lets a Pilot process its messages in between."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        if pause is None:
            await asyncio.sleep(POLL_S)
        else:
            await pause()


def wait_for_condition_sync(condition: Callable[[], object], *, what: str = "condition",
                            timeout_s: float = HANG_S) -> None:
    """The same for code outside an event loop (subprocesses, threads)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(POLL_S)  # noqa: TID251 - a test thread with no event loop; polling is the wait


async def bounded(awaitable: Awaitable[T], *, what: str = "operation", timeout_s: float = HANG_S) -> T:
    """Await something that must finish; fail (instead of hanging the suite) after the hang bound."""
    try:
        return await asyncio.wait_for(awaitable, timeout_s)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}") from None
