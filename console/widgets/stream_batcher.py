"""StreamBatcher: collects streamed text deltas and hands them on in batches, at most one per screen frame."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from textual.constants import MAX_FPS

Sink = Callable[[str], Awaitable[None]]

# One batch per frame Textual may draw (TEXTUAL_FPS, 60 by default): a slower batch would itself be what
# limits the frames an operator sees, and a faster one would only add appends the screen cannot show.
DEFAULT_INTERVAL_S = 1.0 / MAX_FPS


class StreamBatcher:
    """The first delta after a flush starts a timer; when it fires, everything collected goes to the sink in one
    call. `finish()` flushes what is left at once. A slow token rate still shows within one interval, and a fast
    one costs one render per interval instead of one per token."""

    def __init__(self, sink: Sink, *, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.sink = sink
        self.interval_s = interval_s
        self.flushes = 0
        """How many times the sink was called (what the tests count)."""
        self._pending: list[str] = []
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # keeps batches in order when a timed flush and finish() meet

    async def add(self, delta: str) -> None:
        if not delta:
            return
        self._pending.append(delta)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def finish(self) -> None:
        """Flush now and stop the timer; call this however the stream ended (also when cancelled)."""
        timer, self._timer = self._timer, None
        if timer is not None and not timer.done():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        await self._flush()

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.interval_s)
        self._timer = None  # from here on finish() waits on the lock instead of cancelling this flush
        await self._flush()

    async def _flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            self.flushes += 1
            await self.sink(text)
