"""Sane ranges for the numbers of the config: a typo or a hostile file cannot set a timeout of 1e308 s.

Each bounded type refuses true/false, infinities and NaN, and values outside its range, with one message that
names the field, the range and the value as YAML would write it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo


def number_text(value: float) -> str:
    """A number as the operator would write it in YAML, short even when the number is huge."""
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return f"{value:g}"
    if value.bit_length() > 64:
        # str() of a huge int is slow and may raise (int-str limit); its size says enough.
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}a number of about {digits:,} digits"
    return str(value)


def _bound_text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _range_text(low: float, high: float, unit: str, *, low_open: bool) -> str:
    unit_text = f" {unit}" if unit else ""
    if low_open:
        return f"more than {_bound_text(low)} and at most {_bound_text(high)}{unit_text}"
    return f"between {_bound_text(low)} and {_bound_text(high)}{unit_text}"


def _not_bool(what: str) -> Callable[[Any, ValidationInfo], Any]:
    def check(value: Any, info: ValidationInfo) -> Any:
        # pydantic would read `true` as 1; a switch where a number belongs is a mistake worth saying.
        if isinstance(value, bool):
            raise ValueError(f"{info.field_name or 'this value'} must be {what}, not {str(value).lower()}")
        return value

    return check


def _in_range(low: float, high: float, unit: str = "", *, low_open: bool = False) -> AfterValidator:
    def check(value: float, info: ValidationInfo) -> float:
        finite = not isinstance(value, float) or math.isfinite(value)
        above = value > low if low_open else value >= low
        if finite and above and value <= high:
            return value
        name = info.field_name or "this value"
        kind = "a whole number" if isinstance(value, int) else "a number"
        raise ValueError(f"{name} must be {kind} {_range_text(low, high, unit, low_open=low_open)}, "
                         f"not {number_text(value)}")

    return AfterValidator(check)


def _schema(low: float, high: float, *, low_open: bool = False) -> Any:
    """The range for the exported JSON schema, so an editor warns too (the check itself is `_in_range`)."""
    return Field(json_schema_extra={"exclusiveMinimum" if low_open else "minimum": low, "maximum": high})


_NUMBER = BeforeValidator(_not_bool("a number"))
_WHOLE = BeforeValidator(_not_bool("a whole number"))

Seconds = Annotated[float, _NUMBER, _in_range(0.1, 86_400, "seconds"), _schema(0.1, 86_400)]
"""A timeout: at least a tenth of a second, at most a day."""
RefreshSeconds = Annotated[float, _NUMBER, _in_range(0.2, 3_600, "seconds"), _schema(0.2, 3_600)]
"""A polling interval: faster than 0.2 s only loads the backends and the terminal."""
Weight = Annotated[float, _NUMBER, _in_range(0, 1_000_000, low_open=True), _schema(0, 1_000_000, low_open=True)]
"""A share of traffic."""
Usd = Annotated[float, _NUMBER, _in_range(0, 1_000_000_000, "USD"), _schema(0, 1_000_000_000)]
"""A budget in US dollars."""
UsdPerMtok = Annotated[float, _NUMBER, _in_range(0, 1_000_000, "USD"), _schema(0, 1_000_000)]
"""A price per million tokens."""
Concurrency = Annotated[int, _WHOLE, _in_range(1, 10_000), _schema(1, 10_000)]
"""Requests in flight at once."""
RequestsPerMinute = Annotated[int, _WHOLE, _in_range(1, 1_000_000), _schema(1, 1_000_000)]
"""A client-side request rate limit."""
TokensPerMinute = Annotated[int, _WHOLE, _in_range(1, 1_000_000_000), _schema(1, 1_000_000_000)]
"""A client-side token rate limit."""
Retries = Annotated[int, _WHOLE, _in_range(0, 10), _schema(0, 10)]
"""Extra attempts per target; each one waits a backoff, so more than ten only delays the fallback."""

__all__ = [
    "Concurrency",
    "RefreshSeconds",
    "RequestsPerMinute",
    "Retries",
    "Seconds",
    "TokensPerMinute",
    "Usd",
    "UsdPerMtok",
    "Weight",
    "number_text",
]
