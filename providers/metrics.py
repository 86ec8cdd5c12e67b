"""Rolling metrics per provider and model in fixed memory: requests, errors by kind, latency, TTFT, tokens, cost."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Literal

from providers.metric_buckets import SeriesBuckets, Tier, WindowHistogram, align_up, layout_for

Clock = Callable[[], float]

SeriesMetric = Literal[
    "requests", "errors", "error_rate", "latency_p50", "latency_p95", "latency_p99",
    "ttft_p50", "ttft_p95", "ttft_p99", "tokens", "tokens_per_s", "cost_usd",
]

_SPEND_DAYS_KEPT = 8


@dataclass(slots=True)
class _Aggregate:
    requests: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    latency: WindowHistogram = field(default_factory=WindowHistogram)
    ttft: WindowHistogram = field(default_factory=WindowHistogram)
    tokens: int = 0
    estimated_tokens: int = 0
    generation_tokens: int = 0
    generation_ms: float = 0.0
    cost_usd: float = 0.0

    def add(self, tier: Tier, slot: int, *, timings: bool = True) -> None:
        """Count one bucket in; `timings=False` leaves its latency and TTFT histograms out (not asked for)."""
        self.requests += tier.requests[slot]
        self.errors += tier.errors[slot]
        if tier.error_kinds[slot]:
            self.error_kinds.update(tier.error_kinds[slot])
        if timings:
            self.latency.merge(tier.latency, slot)
            self.ttft.merge(tier.ttft, slot)
        self.tokens += tier.tokens[slot]
        self.estimated_tokens += tier.estimated_tokens[slot]
        self.generation_tokens += tier.generation_tokens[slot]
        self.generation_ms += tier.generation_ms[slot]
        self.cost_usd += tier.cost_usd[slot]

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
    """Rolling windows of `buckets` steps of `resolution_s` (default 900 × 1 s = 15 min) per (provider, model).

    Each series keeps tiers of buckets (providers/metric_buckets.py): 1-step buckets for the last 60 steps,
    2-step ones back to 300 steps, 10-step ones back to `buckets`; all of them allocated when the series is
    created (`ring_size` buckets, 302 by default, about 310 KiB), so its memory is the same from its first call on.
    A window within the last 60 steps is exact to the step; a longer one is made of whole coarser buckets and
    starts at the first of them inside it, leaving out at most its oldest 1 or 9 steps, never counting anything
    older than the window.

    `record` is O(1); memory is bounded by `ring_size` per series and `max_series` series (least recently
    recorded evicted). Latency and TTFT percentiles are over successful calls only. Thread-safe (one lock).
    Every method takes `now` (epoch seconds) so tests are exact; otherwise `clock` is read.
    """

    def __init__(self, *, buckets: int = 900, resolution_s: float = 1.0, clock: Clock = time.time,
                 max_series: int = 512, tz: tzinfo | None = None, smoothing: float = 0.3) -> None:
        if buckets < 1 or resolution_s <= 0:
            raise ValueError("buckets must be ≥ 1 and resolution_s > 0")
        self.span = buckets
        self.resolution_s = resolution_s
        self._layout = layout_for(buckets)
        self.ring_size = SeriesBuckets(self._layout).buckets()
        """Buckets each series keeps, all of them from its first call on."""
        self._clock = clock
        self._max_series = max_series
        self._tz = tz  # None: the machine's local day, which is what an operator's daily budget means
        self._smoothing = smoothing
        self._lock = threading.Lock()
        self._series: OrderedDict[tuple[str, str], SeriesBuckets] = OrderedDict()
        self._recent: dict[tuple[str, str | None, str], float] = {}
        self._in_flight: dict[str, int] = {}
        self._spend: dict[str, dict[str, float]] = {}

    def record(self, provider: str, model: str, *, ok: bool, error_kind: str | None = None,
               latency_ms: float | None = None, ttft_ms: float | None = None, completion_tokens: int = 0,
               cost_usd: float = 0.0, now: float | None = None, tokens_estimated: bool = False) -> None:
        """Count one finished call (success or failure); `tokens_estimated`: its completion tokens were counted
        by llmdeck, not reported by the server."""
        at = self._clock() if now is None else now
        step = self._index(at)
        generation_ms = 0.0  # decode time: after the first token, or the whole call when TTFT is unknown
        if latency_ms is not None:
            generation_ms = latency_ms - ttft_ms if ttft_ms is not None and latency_ms > ttft_ms else latency_ms
        decoded = completion_tokens if generation_ms > 0 else 0
        with self._lock:
            counted = False
            for tier in self._get_series(provider, model).tiers:
                slot = tier.slot_for(step)
                if slot is None:
                    continue
                counted = True
                tier.requests[slot] += 1
                tier.tokens[slot] += completion_tokens
                if tokens_estimated:
                    tier.estimated_tokens[slot] += completion_tokens
                tier.cost_usd[slot] += cost_usd
                if not ok:
                    tier.errors[slot] += 1
                    tier.error_kinds[slot][error_kind or "error"] += 1
                    continue
                if latency_ms is not None:
                    tier.latency.add(slot, latency_ms)
                    if decoded:
                        tier.generation_tokens[slot] += decoded
                        tier.generation_ms[slot] += generation_ms
                if ttft_ms is not None:
                    tier.ttft.add(slot, ttft_ms)
            if counted and ok:
                if latency_ms is not None:
                    self._smooth(provider, model, "latency", latency_ms)
                if ttft_ms is not None:
                    self._smooth(provider, model, "ttft", ttft_ms)
            if cost_usd:
                self._add_spend(provider, cost_usd, at)

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
            for series in self._matching(provider, model):
                for tier, slot, _ in self._held(series, last - steps + 1, last):
                    total.add(tier, slot)
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
        holding now. Counts are 0 and percentiles/rates None where a step saw nothing.

        Within the last 60 steps the last step ends now. A longer window reaches coarser buckets (2 or 10 steps
        wide); when `step_s` is a multiple of the widest, the steps are laid on that grid, so each is made of whole
        buckets and counts exactly its own time, and the last one, still filling, ends up to 9 steps after now.
        Otherwise a coarse bucket counts in the step it starts in."""
        last = self._index(self._clock() if now is None else now)
        per_step = max(1, round(step_s / self.resolution_s))
        points = max(1, math.ceil(self._steps(window_s) / per_step))
        first = last - points * per_step + 1
        grid = self._layout[self._widest_tier(first, last)][0]
        if per_step % grid == 0:
            first = align_up(last + 1, grid) - points * per_step
        timings = metric.startswith(("latency_p", "ttft_p"))
        steps = [_Aggregate() for _ in range(points)]
        with self._lock:
            for series in self._matching(provider, model):
                for tier, slot, start in self._held(series, first, last):
                    steps[(start - first) // per_step].add(tier, slot, timings=timings)
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
        """How many buckets the series holds (`ring_size` from its first call on; 0 before it)."""
        series = self._series.get((provider, model))
        return series.buckets() if series else 0

    def _index(self, at: float) -> int:
        return math.floor(at / self.resolution_s)

    def _steps(self, window_s: float) -> int:
        return max(1, min(self.span, math.ceil(window_s / self.resolution_s)))

    def _widest_tier(self, first: int, last: int) -> int:
        """The coarsest tier a window from step `first` to `last` reaches."""
        for position, (_, reach) in enumerate(self._layout):
            if first > last - reach:
                return position
        return len(self._layout) - 1

    def _held(self, series: SeriesBuckets, first: int, last: int) -> Iterator[tuple[Tier, int, int]]:
        """(tier, slot, first step) of the buckets covering steps `first`..`last`, each stretch of time from one
        tier only: the finest that still reaches it. A tier hands over to the next at a step on the next one's
        grid, so the buckets of the two tile time without a gap or an overlap."""
        end = last + 1
        widest = self._widest_tier(first, last)
        for position, tier in enumerate(series.tiers[:widest + 1]):
            reach = self._layout[position][1]
            start = first if position == widest else max(first, align_up(last - reach + 1,
                                                                           self._layout[position + 1][0]))
            for slot, step in tier.held(start, end):
                yield tier, slot, step
            end = start

    def _get_series(self, provider: str, model: str) -> SeriesBuckets:
        key = (provider, model)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = SeriesBuckets(self._layout)
            if len(self._series) > self._max_series:
                (old_provider, old_model), _ = self._series.popitem(last=False)
                for what in ("latency", "ttft"):
                    self._recent.pop((old_provider, old_model, what), None)
        else:
            self._series.move_to_end(key)
        return series

    def _matching(self, provider: str, model: str | None) -> list[SeriesBuckets]:
        return [series for (name, m), series in self._series.items() if name == provider and model in (None, m)]

    def _day(self, at: float) -> str:
        return datetime.fromtimestamp(at, tz=UTC).astimezone(self._tz).date().isoformat()

    def _add_spend(self, provider: str, usd: float, at: float) -> None:
        days = self._spend.setdefault(provider, {})
        day = self._day(at)
        days[day] = days.get(day, 0.0) + usd
        if len(days) > _SPEND_DAYS_KEPT:
            del days[min(days)]
