"""What every image job shares: its own deadline, a watch for progress that stands still, and taking an unfinished
job off the server however the wait for it ends (timeout, stall, error, cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from providers.base import AdapterOptions
from providers.errors import ProviderTimeoutError

STOP_LIMIT_S = 10.0
"""Taking a job off the server (look at the queue, delete, interrupt) gets at most this long in all."""
STOP_READ_S = 5.0
"""Each request of that gets at most this long, whatever the provider's timeout_s."""

_stopping: set[asyncio.Task[None]] = set()
"""Stops that outlived their caller (cancelled a second time); held here so the loop does not drop them."""


class JobClock:
    """The two limits of one image job: the whole job, queue included (`image_timeout_s`), and progress standing
    still (`image_idle_s`). The provider's `timeout_s` is left to bound each single read."""

    def __init__(self, options: AdapterOptions, provider: str) -> None:
        self.total_s = options.image_timeout_s
        self.idle_s = options.image_idle_s
        self.provider = provider
        self._idle: asyncio.Timeout | None = None

    def moved(self) -> None:
        """The job moved on: the stall watch starts again from now."""
        if self._idle is not None and not self._idle.expired():
            self._idle.reschedule(asyncio.get_running_loop().time() + self.idle_s)

    def waiting_in_line(self) -> None:
        """The job waits behind other work: not a stall, so only the whole-job limit applies until it moves."""
        if self._idle is not None and not self._idle.expired():
            self._idle.reschedule(None)

    def timed_out(self) -> ProviderTimeoutError:
        return ProviderTimeoutError(
            f"image not finished within {self.total_s:g} s (image_timeout_s; raise it for longer jobs)",
            phase="total", provider=self.provider)

    def stalled(self) -> ProviderTimeoutError:
        return ProviderTimeoutError(
            f"image job stalled: no progress for {self.idle_s:g} s (image_idle_s; raise it for a server that "
            "is slow to move)", phase="idle", provider=self.provider)

    @asynccontextmanager
    async def limits(self, *, watch_idle: bool = True) -> AsyncIterator[JobClock]:
        """Run the block under both limits; either one passing raises ProviderTimeoutError naming its option."""
        whole = asyncio.timeout(self.total_s)
        idle = asyncio.timeout(self.idle_s if watch_idle else None)
        try:
            async with whole, idle:
                self._idle = idle
                yield self
        except TimeoutError:
            if whole.expired():
                raise self.timed_out() from None
            if idle.expired():
                raise self.stalled() from None
            raise
        finally:
            self._idle = None


async def stop_on_server(stop: Callable[[], Awaitable[None]]) -> None:
    """Run `stop` (dequeue, interrupt) to its end within STOP_LIMIT_S, even while the caller is being cancelled.

    It never raises its own failure: the error that ended the job is the one the caller reports, and a server that
    cannot be reached to be told to stop has already been reported by that error. A second cancellation of the
    caller propagates at once; the stop then finishes in the background, still bounded.
    """

    async def bounded() -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(STOP_LIMIT_S):
                await stop()

    task = asyncio.get_running_loop().create_task(bounded())
    _stopping.add(task)
    task.add_done_callback(_stopping.discard)
    await asyncio.shield(task)
