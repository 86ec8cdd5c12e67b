"""Values written for a person: every helper gives short, plain words, and none of them breaks on a hostile value."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from providers.display import (
    MISSING,
    byte_size,
    count,
    decimal,
    duration,
    listing,
    milliseconds,
    number,
    per_second,
    percent,
    plural,
    readable,
    state_with_reason,
    token_span,
    tokens,
    usd,
    yes_no,
)


class NotANumber:
    """An object of no known kind, as a parsed reply may hold."""

    def __repr__(self) -> str:
        return "NotANumber()"


HOSTILE = [None, math.nan, math.inf, -math.inf, -1, -1e300, 1e300, 10**400, -(10**400), True, "12", (1, 2),
           NotANumber()]
"""What a backend or a broken clock may hand over where a number was due."""
LONGEST = 24
"""No helper writes more than this many characters for one value, whatever it is given."""

HELPERS: dict[str, Callable[[object], str]] = {
    "number": number, "decimal": decimal, "milliseconds": milliseconds, "duration": duration,
    "byte_size": byte_size, "compact_size": lambda v: byte_size(v, compact=True), "token_span": token_span,
    "usd": usd, "percent": percent, "tokens": tokens, "count": lambda v: count(v, "provider"),
    "per_second": lambda v: per_second(v, "tok"), "readable": readable,
}


@pytest.mark.parametrize("helper", HELPERS)
@pytest.mark.parametrize("value", HOSTILE, ids=lambda value: str(value)[:12])
def test_no_helper_raises_or_floods_on_a_hostile_value(helper: str, value: object) -> None:
    text = HELPERS[helper](value)
    assert isinstance(text, str) and 0 < len(text) <= LONGEST, text
    assert "nan" not in text.lower() and "inf" not in text.lower(), text


@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf, -5.0, 10**400, True, "53"])
def test_an_impossible_duration_or_size_is_missing(value: object) -> None:
    assert milliseconds(value) == duration(value) == byte_size(value) == percent(value) == MISSING


def test_milliseconds_read_as_ms_then_seconds() -> None:
    assert milliseconds(53.65368700017825) == "53.7 ms"
    assert milliseconds(0.4) == "0.4 ms"
    assert milliseconds(5.0) == "5 ms"
    assert milliseconds(99.96) == "100 ms"  # rounds into the next form, never "100.0 ms"
    assert milliseconds(537.2) == "537 ms"
    assert milliseconds(999.6) == "1 s"
    assert milliseconds(1234) == "1.2 s"


def test_durations_grow_into_minutes_hours_and_days() -> None:
    assert duration(0.0536) == "53.6 ms"
    assert duration(1.23) == "1.2 s"
    assert duration(42.4) == "42 s"
    assert duration(59.6) == "1 min"
    assert duration(200) == "3 min 20 s"
    assert duration(7500) == "2 h 5 min"
    assert duration(3 * 86400 + 4 * 3600 + 59) == "3 d 4 h"
    assert duration(1e300) == "1.2e+295 d"


def test_byte_sizes_are_in_powers_of_1024() -> None:
    assert byte_size(0) == "0 B"
    assert byte_size(512) == "512 B"
    assert byte_size(1023.6) == "1.0 KiB"
    assert byte_size(1536) == "1.5 KiB"
    assert byte_size(4_920_000_000) == "4.6 GiB"
    assert byte_size(4_920_000_000, compact=True) == "4.6G"
    assert byte_size(2**70) == "1,024 EiB"  # past the last unit the number grows
    assert byte_size(1e300) == "8.7e+281 EiB"


def test_token_counts_and_spans() -> None:
    assert tokens(1) == "1 token"
    assert tokens(12480) == "12,480 tokens"
    assert tokens(None) == f"{MISSING} tokens"
    assert [token_span(n) for n in (512, 8192, 131072, 200000, 999_999, 1_048_576, 1_500_000)] == [
        "512", "8k", "128k", "200k", "1M", "1M", "1.5M"]
    assert token_span(-3) == MISSING


def test_dollars_read_as_money() -> None:
    assert [usd(v) for v in (0, 0.00018, 0.0099, 0.42, 12.5, 1234, 3.4e6)] == [
        "$0.00", "$0.0002", "$0.01", "$0.42", "$12.50", "$1.2k", "$3.4M"]
    assert usd(-0.5) == "-$0.50"  # a refund is shown as one
    assert usd(1e300) == "$1e+300"
    assert usd(math.nan) == usd(None) == "$?"


def test_percentages() -> None:
    assert [percent(v) for v in (0, 0.001, 0.42, 1, 1.5)] == ["0%", "<1%", "42%", "100%", "150%"]


def test_rates_mark_estimates() -> None:
    assert per_second(200, "tok") == "200 tok/s"
    assert per_second(200, "tok", estimated=True) == "~200 tok/s"
    assert per_second(3.25, "tok") == "3.2 tok/s"
    assert per_second(None, "tok", estimated=True) == f"{MISSING} tok/s"


def test_counted_nouns_agree_with_their_number() -> None:
    assert count(1, "provider") == "1 provider"
    assert count(2, "provider") == "2 providers"
    assert count(0, "route") == "0 routes"
    assert count(1, "retry") == "1 retry"
    assert count(3, "retry") == "3 retries"
    assert count(2, "day") == "2 days"
    assert count(2, "match") == "2 matches"
    assert count(2, "person", "people") == "2 people"
    assert count(1_234_567, "token") == "1,234,567 tokens"
    assert count(1.5, "token") == "1.5 tokens"
    assert plural(1.0, "model") == "model"


def test_numbers_have_no_float_noise() -> None:
    assert number(1234) == "1,234"
    assert number(-0.4) == "0"  # never "-0"
    assert decimal(53.65368700017825) == "53.65"
    assert decimal(2.0) == "2"
    assert decimal(0.0012) == "0.0012"  # a small value does not read as 0
    assert decimal(1e-300) == "1e-300"
    assert number(1e300) == "1e+300"


def test_collections_are_comma_separated_never_a_repr() -> None:
    assert readable(("meta-llama/Llama-3.1-8B-Instruct", "sql-lora")) == "meta-llama/Llama-3.1-8B-Instruct, sql-lora"
    assert readable(()) == readable([]) == readable(None) == readable("") == MISSING
    assert readable({"b", "a"}) == "a, b"
    assert readable({"rate": 0.123456, "on": True}) == "rate: 0.12, on: yes"
    assert readable(53.65368700017825) == "53.65"
    assert listing(range(30), most=3) == "0, 1, 2 and 27 more"
    assert yes_no(False) == "no" and yes_no(None) == MISSING


def test_a_state_and_its_reason_are_said_once() -> None:
    assert state_with_reason("ready", "ready") == "ready"
    assert state_with_reason("ready", "") == "ready"
    assert state_with_reason("ready", "would serve now") == "ready: would serve now"
    assert state_with_reason("skipped", "unhealthy (down)") == "skipped: unhealthy (down)"

