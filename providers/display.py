"""Values as a person reads them: durations, byte sizes, token counts, dollars, shares, lists, yes/no, counted nouns.

The console's screens, the headless commands and the providers' own messages all write numbers for people; they
take the words from here so `53.7 ms`, `4.6 GiB` and `1 provider` read the same everywhere.

Every function takes whatever a backend or a clock may hand over (None, NaN, infinities, negatives, absurdly large
numbers, a bool where a number was due) and returns a short string; none of them raises on a bad value. MISSING
stands for a value that is unknown or cannot be true (a negative latency, an infinite size). Text values are
returned as given: making outside text terminal-safe is `providers.safe_text`'s job, done where a line is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

MISSING = "—"
"""An unknown value, or one that cannot be true."""

HUGE = 1e15
"""Beyond this a number is written in powers of ten (`1.2e+300`), so a hostile value never floods a line."""

_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_MONEY_SUFFIXES: tuple[tuple[float, str], ...] = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def finite(value: object) -> float | None:
    """`value` as a finite float; None for None, NaN, the infinities, an int too large for a float, a bool (a
    flag is not a quantity) and anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _non_negative(value: object) -> float | None:
    number = finite(value)
    return None if number is None or number < 0 else number


def number(value: object, decimals: int = 0) -> str:
    """A number with thousands separators and at most `decimals` places, trailing zeros dropped: `1,234`,
    `53.65`. Beyond HUGE in powers of ten."""
    real = finite(value)
    if real is None:
        return MISSING
    if abs(real) >= HUGE:
        return f"{real:.2g}"
    text = f"{real:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def decimal(value: object) -> str:
    """A measured quantity of no known unit: at most 2 places (`53.65`), or 2 significant digits below 1
    (`0.0012`) so a small value does not read as 0."""
    real = finite(value)
    if real is None:
        return MISSING
    if real != 0 and abs(real) < 0.01:
        places = -math.floor(math.log10(abs(real))) + 1
        return number(real, places) if places <= 8 else f"{real:.2g}"
    return number(real, 2)


def plural(count: object, noun: str, plural_form: str | None = None) -> str:
    """`noun` as it goes with `count`: `provider` for 1, `providers` otherwise (`entry` → `entries`)."""
    if finite(count) == 1:
        return noun
    if plural_form is not None:
        return plural_form
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return noun[:-1] + "ies"
    return noun + "s"


def count(value: object, noun: str, plural_form: str | None = None) -> str:
    """A count and its noun: `1 provider`, `0 routes`, `12,480 tokens`, `— tokens` when unknown."""
    real = finite(value)
    shown = MISSING if real is None else number(real, 0 if real == int(real) else 1)
    return f"{shown} {plural(real, noun, plural_form)}"


def tokens(value: object) -> str:
    """A token count: `1 token`, `12,480 tokens`."""
    return count(value, "token")


def token_span(value: object) -> str:
    """A context length the short way an operator configures it: `512`, `8k`, `128k` (131072), `200k`, `1M`."""
    real = _non_negative(value)
    if real is None:
        return MISSING
    if real >= HUGE:
        return f"{real:.2g}"
    whole = int(real)
    if whole < 1000:
        return str(whole)
    # 131072 is "128k" to anyone who configured it; 200000 is "200k".
    if whole >= 999_500:  # what would round to 1000k
        return f"{whole // 1024**2:,}M" if whole % 1024**2 == 0 else f"{number(whole / 1e6, 1)}M"
    return f"{whole // 1024}k" if whole % 1024 == 0 else f"{round(whole / 1000)}k"


def milliseconds(value: object) -> str:
    """A time given in milliseconds: `0.4 ms`, `53.7 ms`, `537 ms`, then as `duration` does (`1.2 s`)."""
    real = _non_negative(value)
    if real is None:
        return MISSING
    if round(real, 1) < 100:
        return f"{number(real, 1)} ms"
    if round(real) < 1000:
        return f"{real:.0f} ms"
    return _seconds(real / 1000)


def duration(value: object) -> str:
    """A time given in seconds: `53.7 ms`, `1.2 s`, `42 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`."""
    real = _non_negative(value)
    if real is None:
        return MISSING
    if round(real * 1000) < 1000:
        return milliseconds(real * 1000)
    return _seconds(real)


def _seconds(seconds: float) -> str:
    if round(seconds, 1) < 10:
        return f"{number(seconds, 1)} s"
    if seconds >= HUGE:
        return f"{seconds / 86400:.2g} d"
    whole = round(seconds)
    for size, unit, smaller, rest_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s")):
        if whole >= size:
            big, rest = divmod(whole, size)
            rest //= smaller
            return f"{big:,} {unit}" + (f" {rest} {rest_unit}" if rest else "")
    return f"{whole} s"


def byte_size(value: object, *, compact: bool = False) -> str:
    """A size in bytes, in powers of 1024: `512 B`, `1.5 KiB`, `4.6 GiB`; `compact` for a narrow column: `4.6G`."""
    real = _non_negative(value)
    if real is None:
        return MISSING
    if round(real) < 1024:
        return f"{real:.0f}B" if compact else f"{real:.0f} B"
    size = real
    for unit in _BINARY_UNITS:
        size /= 1024
        if round(size, 1) < 1024 or unit == _BINARY_UNITS[-1]:  # past EiB the number grows instead
            break
    shown = f"{size:.2g}" if size >= HUGE else number(size, 1) if size >= 1000 else f"{size:.1f}"
    return f"{shown}{unit[0]}" if compact else f"{shown} {unit}"


def usd(value: object) -> str:
    """A sum of dollars as an operator reads it: `$0.00`, `$0.0002` (one significant digit below a cent), `$0.42`,
    `$12.50`, `$1.2k`, `$3.4M`; `$?` when it is not a number."""
    real = finite(value)
    if real is None:
        return "$?"
    size = abs(real)
    sign = "-" if real < 0 else ""
    if size >= 1e12:
        return f"{sign}${size:.2g}"
    for divisor, suffix in _MONEY_SUFFIXES:
        if size >= divisor:
            return f"{sign}${size / divisor:.1f}{suffix}"
    if size == 0 or size >= 0.01:
        return f"{sign}${size:.2f}"
    places = -math.floor(math.log10(size))
    text = f"{size:.{places}f}"
    if float(text) >= 0.01:  # 0.0099 rounds up to a cent
        text = f"{size:.2f}"
    return f"{sign}${text}"


def percent(value: object) -> str:
    """A fraction (0–1) as a share: `0%`, `<1%`, `42%`, `100%`, `150%` (over-full is shown, not hidden)."""
    real = _non_negative(value)
    if real is None:
        return MISSING
    if 0 < real < 0.005:
        return "<1%"
    if real * 100 >= HUGE:
        return f"{real * 100:.2g}%"
    return f"{real * 100:.0f}%"


def per_second(value: object, unit: str, *, estimated: bool = False) -> str:
    """A rate: `200 tok/s`, `~200 tok/s` when partly estimated, `— tok/s` when unknown."""
    real = _non_negative(value)
    shown = MISSING if real is None else number(real, 1 if real < 10 else 0)
    return f"{'~' if estimated and real is not None else ''}{shown} {unit}/s"


def yes_no(value: object) -> str:
    """`yes` or `no`; MISSING when unknown."""
    return MISSING if value is None else "yes" if value else "no"


def listing(values: Iterable[object], *, most: int | None = None) -> str:
    """Items separated by commas (`a, b, c`), each shown by `readable`; MISSING for none. With `most`, the rest
    is counted: `a, b and 12 more`."""
    items = list(values)
    if not items:
        return MISSING
    shown = [readable(item) for item in (items if most is None else items[:most])]
    rest = len(items) - len(shown)
    return ", ".join(shown) + (f" and {rest:,} more" if rest else "")


def readable(value: object) -> str:
    """Any value without a known unit: text as it is, a number without float noise, a list comma-separated,
    a mapping as `key: value` pairs, a flag as yes/no, nothing as MISSING. Never a Python repr of a container."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, int):
        return number(value)
    if isinstance(value, float):
        return decimal(value)
    if isinstance(value, Mapping):
        return listing(f"{readable(key)}: {readable(item)}" for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return listing(sorted(value, key=str) if isinstance(value, set | frozenset) else value)
    return str(value)


def state_with_reason(state: str, reason: str) -> str:
    """A state and why, said once: `skipped: unhealthy (down)`, `ready: would serve now`; just `ready` when the
    reason only repeats the state."""
    return state if not reason or reason == state else f"{state}: {reason}"
