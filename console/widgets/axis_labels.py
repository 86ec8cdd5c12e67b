"""Axis ticks and labels for small terminal plots: round steps, short numbers, money that reads as money."""

from __future__ import annotations

import math
from collections.abc import Sequence

from providers import display

SUFFIXES: tuple[tuple[float, str], ...] = ((1e9, "G"), (1e6, "M"), (1e3, "k"))
"""Large values are shortened so an axis label stays a few cells wide on an 80-column screen."""


def nice_ticks(top: float, most: int = 5, *, whole: bool = False) -> list[float]:
    """Ticks from 0 to at least `top`, at most `most` of them, a round step apart (1, 2 or 5 times a power of
    ten; at least 1 when `whole`, for counts)."""
    most = max(2, most)
    top = top if top > 0 and math.isfinite(top) else 1.0
    raw = top / (most - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw * (1 - 1e-9))
    if whole:
        step = max(1.0, round(step))
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 12) for i in range(count + 1)]


def _decimals(step: float) -> int:
    """Digits after the point that tell ticks `step` apart (steps are 1, 2 or 5 times a power of ten)."""
    return max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0


def tick_labels(ticks: Sequence[float], *, money: bool = False) -> list[str]:
    """One label per tick, all in one unit and with one number of decimals, so they read as a scale:
    `0 0.5k 1.0k 1.5k`, or with `money` `$0 $0.00005 $0.00010`."""
    if not ticks:
        return []
    step = ticks[1] - ticks[0] if len(ticks) > 1 else (ticks[0] or 1.0)
    biggest = max(abs(t) for t in ticks)
    divisor, suffix = next(((d, s) for d, s in SUFFIXES if biggest >= d), (1.0, ""))
    decimals = _decimals(step / divisor)
    sign = "$" if money else ""
    return [f"{sign}0" if tick == 0 else f"{sign}{tick / divisor:.{decimals}f}{suffix}" for tick in ticks]


def money(usd: float) -> str:
    """A sum of dollars as an operator reads it: `$0.00`, `$0.0002`, `$0.42`, `$1.2k` (providers.display.usd)."""
    return display.usd(usd)
