"""The CPU use of the machine llmdeck runs on, from /proc/stat (Linux): busy share of all CPUs between two readings.

Busy is every jiffy that is neither idle nor iowait. Each reading is compared with the one before it, so the value
covers the time since the previous scrape (since the sampler was made, for the first one); readings closer
together than `MIN_SPAN_S` return the last value again, since a few jiffies say nothing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from providers.request_totals import clean_label

PROC_STAT = Path("/proc/stat")
MIN_SPAN_S = 0.5


def read_jiffies(path: Path = PROC_STAT) -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot; None where there is no /proc/stat or it cannot be read."""
    try:
        with path.open("rb") as stat:
            first = stat.readline(4096).split()
    except OSError:
        return None
    if len(first) < 5 or first[0] != b"cpu":
        return None
    try:
        values = [int(field) for field in first[1:]]
    except ValueError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already inside user and nice
    return total - idle, total


def this_host() -> str:
    """The host label of this machine's readings: its host name, cleaned and bounded like every label."""
    return clean_label(socket.gethostname())


class HostCpu:
    """Busy percent of this machine's CPUs over the time since the last reading."""

    def __init__(self, read: Callable[[], tuple[int, int] | None] = read_jiffies,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._last = read()
        self._last_at = clock()
        self._percent: float | None = None

    def percent(self) -> float | None:
        """Busy share (0–100) since the previous call; None when /proc/stat cannot be read."""
        with self._lock:
            now = self._clock()
            if now - self._last_at < MIN_SPAN_S and self._percent is not None:
                return self._percent
            current = self._read()
            if current is None or self._last is None:
                self._last = current
                return None
            busy = current[0] - self._last[0]
            total = current[1] - self._last[1]
            if total > 0:
                self._percent = max(0.0, min(100.0, 100.0 * busy / total))
                self._last, self._last_at = current, now
            return self._percent
