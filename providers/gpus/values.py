"""Readings checked before they become a Gpu: whatever a tool or an exporter printed is outside text.

A value that is missing (`[N/A]`, `[Not Supported]`, `N/A`, an empty field), not a plain decimal number (`nan`,
`inf`, `0x10`, `1_000`), or outside what any GPU can report (a negative temperature, 150 % utilisation, a
petabyte of memory) becomes None: shown as unknown, never as a made-up number.
"""

from __future__ import annotations

import math
import re
from typing import Final

from providers.safe_text import one_line

MIB: Final = 1024 * 1024
"""nvidia-smi (with `nounits`) and DCGM report memory in MiB."""

MAX_MEMORY_BYTES: Final = 2**50
"""1 PiB: far above any GPU's memory (the largest hold a few hundred GiB)."""
MAX_TEMPERATURE_C: Final = 150.0
"""GPUs shut down near 100 °C; a higher figure is a broken sensor or a hostile source."""
MAX_POWER_W: Final = 10_000.0
"""The largest boards draw about 1–3 kW."""
MAX_INDEX: Final = 4095
MAX_PID: Final = 2**31 - 1
MAX_LABEL_CHARS: Final = 160
"""A GPU or process name longer than this is cut: it is a name, not a document."""

_DECIMAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def number_from_text(text: str) -> float | None:
    """A plain decimal number (`12`, `29.53`, `1e3`); None for anything else, `[N/A]` and `nan` included."""
    text = text.strip()
    if len(text) > 64 or _DECIMAL.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def bounded(value: object, low: float, high: float) -> float | None:
    """`value` as a float when it is a finite number within [low, high]; None otherwise (a bool too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number) or not low <= number <= high:
        return None
    return number


def utilization(value: object) -> float | None:
    """A share of time busy, in percent (0–100)."""
    return bounded(value, 0.0, 100.0)


def temperature(value: object) -> float | None:
    """Degrees Celsius."""
    return bounded(value, 0.0, MAX_TEMPERATURE_C)


def power(value: object) -> float | None:
    """Watts."""
    return bounded(value, 0.0, MAX_POWER_W)


def memory_bytes(value: object) -> int | None:
    """A memory size already in bytes."""
    number = bounded(value, 0.0, MAX_MEMORY_BYTES)
    return None if number is None else int(number)


def mib_to_bytes(value: object) -> int | None:
    """A memory size given in MiB, in bytes."""
    number = bounded(value, 0.0, MAX_MEMORY_BYTES / MIB)
    return None if number is None else int(number * MIB)


def whole(value: object, low: int, high: int) -> int | None:
    """A whole number within [low, high] (a GPU index, a pid); None for a fraction or anything out of range."""
    number = bounded(value, low, high)
    return None if number is None or number != int(number) else int(number)


def label(text: object) -> str | None:
    """A name a source reported, terminal-safe, on one line and cut at MAX_LABEL_CHARS; None when it is missing
    (`[N/A]`, empty)."""
    if not isinstance(text, str):
        return None
    shown = one_line(text[: MAX_LABEL_CHARS * 4]).strip()  # cut first: a hostile name may be megabytes
    if not shown or shown in ("N/A", "[N/A]") or shown.startswith("[Not Supported"):
        return None
    return shown[:MAX_LABEL_CHARS]
