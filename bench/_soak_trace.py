"""Where the headless soak's memory went: Python allocations traced (tracemalloc), a snapshot when the warm-up
ends and one at the end, and the lines whose live allocations grew most in between.

Tracing slows every allocation and its own records take memory, so a traced run's RSS is not comparable with an
untraced one; it answers "what grew", not "how much RSS".
"""

from __future__ import annotations

import tracemalloc

FRAMES = 6
"""Frames kept per allocation: enough to see which caller of a shared helper keeps the memory."""
TOP = 12


class AllocationTrace:
    def __init__(self) -> None:
        self._warm: tracemalloc.Snapshot | None = None

    @staticmethod
    def start() -> None:
        tracemalloc.start(FRAMES)

    def warm(self) -> None:
        """The warm-up ended: what is allocated now is the baseline."""
        if self._warm is None:
            self._warm = _snapshot()

    def report(self) -> list[str]:
        """Summary lines: the largest growths since the warm-up by line, then by the whole traceback of the top
        ones; then tracing stops."""
        if self._warm is None:
            tracemalloc.stop()
            return ["  info  allocations: the run ended before its warm-up did; nothing to compare"]
        end = _snapshot()
        traced, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        by_line = end.compare_to(self._warm, "lineno")
        grown = sum(d.size_diff for d in by_line)
        by_line = [d for d in by_line if d.size_diff > 0]
        lines = [f"  info  allocations traced since warm-up: {grown / 1024:+.0f} KiB live "
                 f"(now {traced / 1048576:.1f} MiB, peak {peak / 1048576:.1f} MiB); largest growths:"]
        lines += [f"    {d.size_diff / 1024:+8.0f} KiB {d.count_diff:+7d} blocks  {d.traceback[0]}"
                  for d in by_line[:TOP]]
        lines.append("  info  the same, by allocating call chain (innermost first):")
        for diff in [d for d in end.compare_to(self._warm, "traceback") if d.size_diff > 0][:4]:
            lines.append(f"    {diff.size_diff / 1024:+8.0f} KiB {diff.count_diff:+7d} blocks")
            lines += [f"        {frame}" for frame in diff.traceback]
        return lines


def _snapshot() -> tracemalloc.Snapshot:
    # The tracer's own bookkeeping is not the program's memory.
    return tracemalloc.take_snapshot().filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
