"""A one-line sparkline as text, for table cells and status lines."""

from __future__ import annotations

from collections.abc import Sequence

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None], width: int = 12) -> str:
    """The last `width` values as block characters scaled between their min and max; None is a gap."""
    tail = list(values)[-width:]
    known = [v for v in tail if v is not None]
    if not known:
        return " " * len(tail)
    low, high = min(known), max(known)
    span = high - low
    cells = []
    for value in tail:
        if value is None:
            cells.append(" ")
        elif span <= 0:
            cells.append(BARS[len(BARS) // 2])
        else:
            cells.append(BARS[min(len(BARS) - 1, int((value - low) / span * len(BARS)))])
    return "".join(cells)
