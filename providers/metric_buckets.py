"""The buckets behind RollingMetrics, in memory allocated once per series: tiers of 1, 2 and 10 resolution steps,
each bucket's counts, sums and log-scale latency histograms in preallocated arrays."""

from __future__ import annotations

import math
import operator
from array import array
from collections import Counter
from collections.abc import Iterator

# Percentiles come from a fixed log-scale histogram per bucket, not a reservoir: histograms of many buckets
# merge exactly, cost O(1) per sample and need no randomness. 8 bins per doubling from 0.1 ms means a reported
# percentile (the bin's geometric middle) is within ±4.4 % of the true sample; it is also clamped to the
# window's observed min and max, so a lone sample is reported exactly.
_BINS_PER_OCTAVE = 8
_SMALLEST_MS = 0.1
_LAST_BIN = _BINS_PER_OCTAVE * 24  # 0.1 ms · 2^24 ≈ 28 min; anything slower shares the last bin
_BINS = _LAST_BIN + 1
_BIN_CAP = 0xFFFF
"""Counts per bin and bucket are 16-bit, half the memory of 32-bit ones; the rare count past this (65 535 calls of
one series in one bin and bucket) goes on in the histogram's `spilled` dict, so nothing is lost."""
_EMPTY = -(2**63)
"""Bucket number of a slot never used."""

_TIERS: tuple[tuple[int, int | None], ...] = ((1, 60), (2, 300), (10, None))
"""(bucket width, how far back the tier reaches; None: the whole span), in resolution steps. With the default 1 s
steps: 1 s buckets for the last minute, 2 s buckets for the last 5 minutes, 10 s buckets beyond — 302 buckets for
15 minutes instead of 900. Each width divides the next, so the tiers tile time on one grid; 2 s divides every step
the Graphs pane draws up to its 5-minute range (2, 6, 10 s) and 10 s every step past it (20, 30 s), so each of
its steps is made of whole buckets."""


def _bin_of(ms: float) -> int:
    if ms <= _SMALLEST_MS:
        return 0
    return min(_LAST_BIN, int(math.log2(ms / _SMALLEST_MS) * _BINS_PER_OCTAVE))


def _bin_middle(index: int) -> float:
    return _SMALLEST_MS * 2 ** ((index + 0.5) / _BINS_PER_OCTAVE)


def align_up(step: int, width: int) -> int:
    return -(-step // width) * width


class HistogramColumns:
    """One log-scale histogram of milliseconds per slot of a tier, every array allocated up front."""

    __slots__ = ("bins", "count", "first_bin", "high", "last_bin", "low", "spilled")

    def __init__(self, size: int) -> None:
        self.bins = array("H", bytes(2 * size * _BINS))  # slot-major: slot · _BINS + bin
        self.count = array("q", bytes(8 * size))
        self.low = array("d", [math.inf]) * size
        self.high = array("d", [-math.inf]) * size
        # The bins a slot has touched, so clearing and merging read that run only, not all 193 bins.
        self.first_bin = array("B", [_LAST_BIN]) * size
        self.last_bin = array("B", bytes(size))
        self.spilled: dict[tuple[int, int], int] = {}

    def add(self, slot: int, ms: float) -> None:
        index = _bin_of(ms)
        at = slot * _BINS + index
        if self.bins[at] < _BIN_CAP:
            self.bins[at] += 1
        else:
            self.spilled[slot, index] = self.spilled.get((slot, index), 0) + 1
        self.count[slot] += 1
        self.low[slot] = min(self.low[slot], ms)
        self.high[slot] = max(self.high[slot], ms)
        self.first_bin[slot] = min(self.first_bin[slot], index)
        self.last_bin[slot] = max(self.last_bin[slot], index)

    def clear(self, slot: int) -> None:
        if not self.count[slot]:
            return
        base, first, last = slot * _BINS, self.first_bin[slot], self.last_bin[slot]
        self.bins[base + first:base + last + 1] = array("H", bytes(2 * (last - first + 1)))
        self.count[slot] = 0
        self.low[slot] = math.inf
        self.high[slot] = -math.inf
        self.first_bin[slot] = _LAST_BIN
        self.last_bin[slot] = 0
        for key in [key for key in self.spilled if key[0] == slot]:
            del self.spilled[key]


class WindowHistogram:
    """A window's log-scale histogram, merged from the slots it covers; its bins are allocated on first use."""

    __slots__ = ("bins", "count", "high", "low")

    def __init__(self) -> None:
        self.bins: list[int] = []
        self.count = 0
        self.low = math.inf
        self.high = -math.inf

    def merge(self, columns: HistogramColumns, slot: int) -> None:
        n = columns.count[slot]
        if not n:
            return
        if not self.bins:
            self.bins = [0] * _BINS
        first, end = columns.first_bin[slot], columns.last_bin[slot] + 1
        base = slot * _BINS
        self.bins[first:end] = map(operator.add, self.bins[first:end], columns.bins[base + first:base + end])
        for (spilled_slot, index), extra in columns.spilled.items():
            if spilled_slot == slot:
                self.bins[index] += extra
        self.count += n
        self.low = min(self.low, columns.low[slot])
        self.high = max(self.high, columns.high[slot])

    def percentile(self, p: float) -> float | None:
        """Nearest rank: the smallest sample with at least p % of the samples at or below it."""
        if not self.count:
            return None
        rank = max(1, math.ceil(p / 100 * self.count))
        seen = 0
        for index, n in enumerate(self.bins):
            seen += n
            if seen >= rank:
                return min(self.high, max(self.low, _bin_middle(index)))
        return self.high


class Tier:
    """`size` buckets of `width` steps each in columns allocated up front: slot = bucket number modulo size, a
    slot is cleared and reused when a newer bucket maps to it, so the memory of a tier never changes."""

    __slots__ = ("bucket", "cost_usd", "error_kinds", "errors", "estimated_tokens", "generation_ms",
                 "generation_tokens", "latency", "requests", "size", "tokens", "ttft", "width")

    def __init__(self, width: int, size: int) -> None:
        self.width = width
        self.size = size
        self.bucket = array("q", [_EMPTY]) * size
        self.requests = array("q", bytes(8 * size))
        self.errors = array("q", bytes(8 * size))
        self.tokens = array("q", bytes(8 * size))
        self.estimated_tokens = array("q", bytes(8 * size))
        self.generation_tokens = array("q", bytes(8 * size))
        self.generation_ms = array("d", bytes(8 * size))
        self.cost_usd = array("d", bytes(8 * size))
        self.error_kinds: list[Counter[str]] = [Counter() for _ in range(size)]
        self.latency = HistogramColumns(size)
        self.ttft = HistogramColumns(size)

    def slot_for(self, step: int) -> int | None:
        """The slot of the bucket holding `step`, cleared if it held an older bucket; None when `step` is older
        than what the tier keeps now (dropped)."""
        number = step // self.width
        slot = number % self.size
        held = self.bucket[slot]
        if held == number:
            return slot
        if held > number:
            return None
        self.bucket[slot] = number
        for column in (self.requests, self.errors, self.tokens, self.estimated_tokens, self.generation_tokens,
                       self.generation_ms, self.cost_usd):
            column[slot] = 0
        self.error_kinds[slot].clear()
        self.latency.clear(slot)
        self.ttft.clear(slot)
        return slot

    def held(self, first: int, end: int) -> Iterator[tuple[int, int]]:
        """(slot, first step) of the buckets kept that start in [first, end)."""
        for number in range(-(-first // self.width), -(-end // self.width)):
            slot = number % self.size
            if self.bucket[slot] == number and self.requests[slot]:
                yield slot, number * self.width


def layout_for(span: int) -> tuple[tuple[int, int], ...]:
    """(width, reach) of the tiers of a `span`-step window: as many of _TIERS as it takes to reach back `span`,
    or one tier of 1-step buckets where that would keep no more buckets (a short span)."""
    tiers: list[tuple[int, int]] = []
    for width, reach in _TIERS:
        if reach is None or span <= reach:
            tiers.append((width, span))
            break
        tiers.append((width, reach))
    return tuple(tiers) if sum(tier_size(width, reach) for width, reach in tiers) < span else ((1, span),)


def tier_size(width: int, reach: int) -> int:
    """Slots a tier needs to keep every bucket starting in its last `reach` steps, the one still filling too."""
    return -(-(reach + width - 1) // width)


class SeriesBuckets:
    """One (provider, model): every call is counted in each tier, each tier answers for its own stretch of time."""

    __slots__ = ("tiers",)

    def __init__(self, layout: tuple[tuple[int, int], ...]) -> None:
        self.tiers = tuple(Tier(width, tier_size(width, reach)) for width, reach in layout)

    def buckets(self) -> int:
        return sum(tier.size for tier in self.tiers)
