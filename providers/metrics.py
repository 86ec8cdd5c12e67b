"""Rolling metrics per provider and model in fixed memory: requests, errors by kind, latency, TTFT, tokens, cost."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Literal

Clock = Callable[[], float]

SeriesMetric = Literal[
    "requests", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99",
    "ttft_p50", "ttft_p95", "ttft_p99", "tokens", "tokens_per_s", "cost_usd",
]

# Percentiles come from a fixed log-scale histogram per bucket, not a reservoir: histograms of many buckets
# merge exactly, cost O(1) per sample and need no randomness. 8 bins per doubling from 0.1 ms means a reported
# percentile (the bin's geometric middle) is within ±4.4 % of the true sample; it is also clamped to the
# window's observed min and max, so a lone sample is reported exactly.
_BINS_PER_OCTAVE = 8
_SMALLEST_MS = 0.1
_LAST_BIN = _BINS_PER_OCTAVE * 24  # 0.1 ms · 2^24 ≈ 28 min; anything slower shares the last bin
_SPEND_DAYS_KEPT = 8


def _bin_of(ms: float) -> int:
    if ms <= _SMALLEST_MS:
        return 0
    return min(_LAST_BIN, int(math.log2(ms / _SMALLEST_MS) * _BINS_PER_OCTAVE))


def _bin_middle(index: int) -> float:
    return _SMALLEST_MS * 2 ** ((index + 0.5) / _BINS_PER_OCTAVE)


class _Histogram:
    """Sparse log-scale histogram of milliseconds: at most _LAST_BIN + 1 entries."""

    __slots__ = ("bins", "count", "high", "low")

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.clear()

    def clear(self) -> None:
        self.bins.clear()
        self.count = 0
        self.low = math.inf
        self.high = -math.inf

    def add(self, ms: float) -> None:
        index = _bin_of(ms)
        self.bins[index] = self.bins.get(index, 0) + 1
        self.count += 1
        self.low = min(self.low, ms)
        self.high = max(self.high, ms)

    def merge(self, other: _Histogram) -> None:
        for index, n in other.bins.items():
            self.bins[index] = self.bins.get(index, 0) + n
        self.count += other.count
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def percentile(self, p: float) -> float | None:
        """Nearest rank: the smallest sample with at least p % of the samples at or below it."""
        if not self.count:
            return None
        rank = max(1, math.ceil(p / 100 * self.count))
        seen = 0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen >= rank:
                return min(self.high, max(self.low, _bin_middle(index)))
        return self.high


class _Bucket:
    """Everything recorded in one resolution step; reused when the ring wraps."""

    __slots__ = ("cost_usd", "error_kinds", "errors", "estimated_tokens", "generation_ms", "generation_tokens",
                 "index", "latency", "requests", "tokens", "ttft")

    def __init__(self, index: int) -> None:
        self.latency = _Histogram()
        self.ttft = _Histogram()
        self.error_kinds: Counter[str] = Counter()
        self.reset(index)

    def reset(self, index: int) -> None:
        self.index = index
        self.requests = 0
        self.errors = 0
        self.error_kinds.clear()
        self.latency.clear()
        self.ttft.clear()
        self.tokens = 0
        self.estimated_tokens = 0
        self.generation_tokens = 0
        self.generation_ms = 0.0
        self.cost_usd = 0.0


class _Ring:
    """A fixed number of buckets, slot = step index modulo size; its memory never grows after it is full."""

    def __init__(self, size: int) -> None:
        self.slots: list[_Bucket | None] = [None] * size

    def bucket_for(self, index: int) -> _Bucket | None:
        slot = index % len(self.slots)
        bucket = self.slots[slot]
        if bucket is None:
            bucket = self.slots[slot] = _Bucket(index)
        elif bucket.index < index:
            bucket.reset(index)
        elif bucket.index > index:
            return None  # older than the window this slot now covers: dropped
        return bucket

    def between(self, first: int, last: int) -> Iterable[_Bucket]:
        return (b for b in self.slots if b is not None and first <= b.index <= last)

    def allocated(self) -> int:
        return sum(b is not None for b in self.slots)


@dataclass(slots=True)
class _Aggregate:
    requests: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    latency: _Histogram = field(default_factory=_Histogram)
    ttft: _Histogram = field(default_factory=_Histogram)
    tokens: int = 0
    estimated_tokens: int = 0
    generation_tokens: int = 0
    generation_ms: float = 0.0
    cost_usd: float = 0.0

    def add(self, bucket: _Bucket) -> None:
        self.requests += bucket.requests
        self.errors += bucket.errors
        self.error_kinds.update(bucket.error_kinds)
        self.latency.merge(bucket.latency)
        self.ttft.merge(bucket.ttft)
        self.tokens += bucket.tokens
        self.estimated_tokens += bucket.estimated_tokens
        self.generation_tokens += bucket.generation_tokens
        self.generation_ms += bucket.generation_ms
        self.cost_usd += bucket.cost_usd

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def tokens_per_s(self) -> float | None:
        return self.generation_tokens / self.generation_ms * 1000 if self.generation_ms > 0 else None

    def value(self, metric: SeriesMetric) -> float | None:
        if metric.startswith(("latency_p", "ttft_p")):
            family, _, p = metric.partition("_p")
            return (self.latency if family == "latency" else self.ttft).percentile(float(p))
        simple: dict[str, float | None] = {
            "requests": float(self.requests), "errors": float(self.errors), "error_rate": self.error_rate,
            "tokens": float(self.tokens), "tokens_per_s": self.tokens_per_s, "cost_usd": self.cost_usd,
        }
        return simple[metric]


@dataclass(frozen=True, slots=True)
class Summary:
    """One provider (or provider+model) over a window. Latencies in ms; None where nothing was measured.
    `tokens_per_s` is decode speed: completion tokens over the time after the first token of successful calls."""

    window_s: float
    requests: int
    errors: int
    error_rate: float
    errors_by_kind: dict[str, int]
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    ttft_p99: float | None
    completion_tokens: int
    tokens_per_s: float | None
    cost_usd: float
    estimated_tokens: int = 0
    """Of completion_tokens, those llmdeck counted itself (the server sent no usage): tokens/s is partly estimated."""


class RollingMetrics:
    """Fixed-resolution rolling windows (default 900 one-second buckets = 15 min) per (provider, model).

    `record` is O(1); memory is bounded by `buckets` per series and `max_series` series (least recently
    recorded evicted). Latency and TTFT percentiles are over successful calls only. Thread-safe (one lock).
    Every method takes `now` (epoch seconds) so tests are exact; otherwise `clock` is read.
    """

    def __init__(self, *, buckets: int = 900, resolution_s: float = 1.0, clock: Clock = time.time,
                 max_series: int = 512, tz: tzinfo | None = None, smoothing: float = 0.3) -> None:
        if buckets < 1 or resolution_s <= 0:
            raise ValueError("buckets must be ≥ 1 and resolution_s > 0")
        self.ring_size = buckets
        self.resolution_s = resolution_s
        self._clock = clock
        self._max_series = max_series
        self._tz = tz  # None: the machine's local day, which is what an operator's daily budget means
        self._smoothing = smoothing
        self._lock = threading.Lock()
        self._series: OrderedDict[tuple[str, str], _Ring] = OrderedDict()
        self._recent: dict[tuple[str, str | None, str], float] = {}
        self._in_flight: dict[str, int] = {}
        self._spend: dict[str, dict[str, float]] = {}

    def record(self, provider: str, model: str, *, ok: bool, error_kind: str | None = None,
               latency_ms: float | None = None, ttft_ms: float | None = None, completion_tokens: int = 0,
               cost_usd: float = 0.0, now: float | None = None, tokens_estimated: bool = False) -> None:
        """Count one finished call (success or failure); `tokens_estimated`: its completion tokens were counted
        by llmdeck, not reported by the server."""
        at = self._clock() if now is None else now
        with self._lock:
            ring = self._ring(provider, model)
            bucket = ring.bucket_for(self._index(at))
            if bucket is not None:
                bucket.requests += 1
                bucket.tokens += completion_tokens
                if tokens_estimated:
                    bucket.estimated_tokens += completion_tokens
                bucket.cost_usd += cost_usd
                if not ok:
                    bucket.errors += 1
                    bucket.error_kinds[error_kind or "error"] += 1
                else:
                    self._record_timings(bucket, provider, model, latency_ms, ttft_ms, completion_tokens)
            if cost_usd:
                self._add_spend(provider, cost_usd, at)

    def _record_timings(self, bucket: _Bucket, provider: str, model: str, latency_ms: float | None,
                        ttft_ms: float | None, completion_tokens: int) -> None:
        if latency_ms is not None:
            bucket.latency.add(latency_ms)
            self._smooth(provider, model, "latency", latency_ms)
            generation_ms = latency_ms - ttft_ms if ttft_ms is not None and latency_ms > ttft_ms else latency_ms
            if completion_tokens and generation_ms > 0:
                bucket.generation_tokens += completion_tokens
                bucket.generation_ms += generation_ms
        if ttft_ms is not None:
            bucket.ttft.add(ttft_ms)
            self._smooth(provider, model, "ttft", ttft_ms)

    def _smooth(self, provider: str, model: str, what: str, value: float) -> None:
        for key in ((provider, model, what), (provider, None, what)):
            previous = self._recent.get(key)
            self._recent[key] = value if previous is None else previous + self._smoothing * (value - previous)

    def recent_latency(self, provider: str, model: str | None = None) -> float | None:
        """Exponentially smoothed latency (ms) of recent successful calls; None before the first one."""
        return self._recent.get((provider, model, "latency"))

    def recent_ttft(self, provider: str, model: str | None = None) -> float | None:
        """Exponentially smoothed time to first token (ms) of recent successful calls."""
        return self._recent.get((provider, model, "ttft"))

    def begin(self, provider: str) -> None:
        """A call to `provider` started (for least-busy routing)."""
        with self._lock:
            self._in_flight[provider] = self._in_flight.get(provider, 0) + 1

    def end(self, provider: str) -> None:
        """A call to `provider` finished, however it ended."""
        with self._lock:
            self._in_flight[provider] = max(0, self._in_flight.get(provider, 0) - 1)

    def in_flight(self, provider: str) -> int:
        return self._in_flight.get(provider, 0)

    def summary(self, provider: str, model: str | None = None, window_s: float = 60.0,
                now: float | None = None) -> Summary:
        """Counts, error rate, p50/p95/p99 latency and TTFT, decode speed and cost over the last `window_s`."""
        last = self._index(self._clock() if now is None else now)
        steps = self._steps(window_s)
        total = _Aggregate()
        with self._lock:
            for ring in self._rings(provider, model):
                for bucket in ring.between(last - steps + 1, last):
                    total.add(bucket)
        return Summary(
            window_s=steps * self.resolution_s, requests=total.requests, errors=total.errors,
            error_rate=total.error_rate, errors_by_kind=dict(total.error_kinds),
            latency_p50=total.latency.percentile(50), latency_p95=total.latency.percentile(95),
            latency_p99=total.latency.percentile(99), ttft_p50=total.ttft.percentile(50),
            ttft_p95=total.ttft.percentile(95), ttft_p99=total.ttft.percentile(99),
            completion_tokens=total.tokens, tokens_per_s=total.tokens_per_s, cost_usd=total.cost_usd,
            estimated_tokens=total.estimated_tokens,
        )

    def series(self, provider: str, metric: SeriesMetric, window_s: float = 900.0, step_s: float = 10.0, *,
               model: str | None = None, now: float | None = None) -> list[tuple[float, float | None]]:
        """ceil(window_s / step_s) points (step start in epoch seconds, value), oldest first, the last step
        ending now. Counts are 0 and percentiles/rates None where a step saw nothing."""
        last = self._index(self._clock() if now is None else now)
        per_step = max(1, round(step_s / self.resolution_s))
        points = max(1, math.ceil(self._steps(window_s) / per_step))
        first = last - points * per_step + 1
        steps = [_Aggregate() for _ in range(points)]
        with self._lock:
            for ring in self._rings(provider, model):
                for bucket in ring.between(first, last):
                    steps[(bucket.index - first) // per_step].add(bucket)
        return [((first + i * per_step) * self.resolution_s, step.value(metric)) for i, step in enumerate(steps)]

    def spend_today(self, provider: str, now: float | None = None) -> float:
        """USD recorded (or seeded) for `provider` since local midnight."""
        day = self._day(self._clock() if now is None else now)
        return self._spend.get(provider, {}).get(day, 0.0)

    def seed_spend(self, provider: str, usd: float, now: float | None = None) -> None:
        """Add spend that happened before this process started (from the ledger), so budgets survive restarts."""
        with self._lock:
            self._add_spend(provider, usd, self._clock() if now is None else now)

    def spend_by_day(self, provider: str) -> dict[str, float]:
        """ISO date → USD for the last few days kept in memory."""
        return dict(self._spend.get(provider, {}))

    def providers(self) -> list[str]:
        return sorted({provider for provider, _ in self._series})

    def models(self, provider: str) -> list[str]:
        return sorted(model for name, model in self._series if name == provider)

    def allocated_buckets(self, provider: str, model: str) -> int:
        """How many buckets the series holds right now (never more than `ring_size`)."""
        ring = self._series.get((provider, model))
        return ring.allocated() if ring else 0

    def _index(self, at: float) -> int:
        return math.floor(at / self.resolution_s)

    def _steps(self, window_s: float) -> int:
        return max(1, min(self.ring_size, math.ceil(window_s / self.resolution_s)))

    def _ring(self, provider: str, model: str) -> _Ring:
        key = (provider, model)
        ring = self._series.get(key)
        if ring is None:
            ring = self._series[key] = _Ring(self.ring_size)
            if len(self._series) > self._max_series:
                (old_provider, old_model), _ = self._series.popitem(last=False)
                for what in ("latency", "ttft"):
                    self._recent.pop((old_provider, old_model, what), None)
        else:
            self._series.move_to_end(key)
        return ring

    def _rings(self, provider: str, model: str | None) -> list[_Ring]:
        return [ring for (name, m), ring in self._series.items() if name == provider and model in (None, m)]

    def _day(self, at: float) -> str:
        return datetime.fromtimestamp(at, tz=UTC).astimezone(self._tz).date().isoformat()

    def _add_spend(self, provider: str, usd: float, at: float) -> None:
        days = self._spend.setdefault(provider, {})
        day = self._day(at)
        days[day] = days.get(day, 0.0) + usd
        if len(days) > _SPEND_DAYS_KEPT:
            del days[min(days)]
