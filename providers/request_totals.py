"""Running totals since the Deck started, for the metrics endpoint: calls, errors by class, durations, time to first
token, tokens, cost and model loads per provider and model.

RollingMetrics forgets what is older than its window and evicts series; a Prometheus counter must never go back,
so the Deck keeps these totals beside it, fed from the same place (each finished hop) and never reset by a config
reload. Memory is fixed per provider: model names are folded (at most `MODEL_LABELS_PER_PROVIDER` of them keep
their own label, first seen first; the rest count under `OTHER`), route labels likewise, and histograms have fixed
buckets.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from providers.base import Usage
from providers.errors import ERROR_CLASSES, NotFoundError, ProviderError
from providers.monitor import HealthEvent
from providers.routing import Attempt
from providers.safe_text import one_line

MODEL_LABELS_PER_PROVIDER = 24
"""Model names per provider that keep a label of their own; a name first seen after these counts as `OTHER`, so
a provider's model label takes at most 25 values."""
ROUTE_LABELS = 64
"""Distinct route label values over the whole deck; later ones count as `OTHER`."""
LABEL_CHARS = 96
"""A model name (backend or user text) is cut to this many characters, control characters shown visibly."""
OTHER = "other"
DIRECT_ROUTE = "direct"
"""The route label of a `PROVIDER/MODEL` target asked for directly: its text names a model, unbounded."""

DURATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_NAMED_CLASSES: tuple[type[ProviderError], ...] = (ProviderError, *ERROR_CLASSES, NotFoundError)
ERROR_CLASS_OF_KIND: dict[str, str] = {cls.kind: cls.__name__ for cls in _NAMED_CLASSES}
"""An attempt's error kind → the class of providers/errors.py that has it (a subclass that keeps its parent's kind,
such as the answer-too-long ProtocolError, counts as the parent)."""


def error_class(kind: str | None) -> str:
    return ERROR_CLASS_OF_KIND.get(kind or "", ProviderError.__name__)


def clean_label(text: str) -> str:
    """A label value from outside text: one line, no control characters, bounded."""
    return one_line(text[:LABEL_CHARS * 2])[:LABEL_CHARS] or "unknown"


@dataclass
class HistogramTotals:
    """Counts per fixed bucket (not cumulative; the last one is +Inf) and the sum of what was observed."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        index = next((i for i, bound in enumerate(self.bounds) if value <= bound), len(self.bounds))
        self.counts[index] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, count of observations ≤ le) for every bound and +Inf, as Prometheus wants them."""
        running = 0
        rows: list[tuple[str, float]] = []
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            rows.append((bound, float(running)))
        return rows

    def copy(self) -> HistogramTotals:
        return HistogramTotals(self.bounds, list(self.counts), self.total)


@dataclass
class SeriesTotals:
    """One (provider, model label). `calls` by (route label, outcome); durations and TTFT of successful calls."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    duration: HistogramTotals = field(default_factory=lambda: HistogramTotals(DURATION_BUCKETS_S))
    ttft: HistogramTotals = field(default_factory=lambda: HistogramTotals(TTFT_BUCKETS_S))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    loads: int = 0

    def copy(self) -> SeriesTotals:
        return SeriesTotals(Counter(self.calls), Counter(self.errors), self.duration.copy(), self.ttft.copy(),
                            self.prompt_tokens, self.completion_tokens, self.cost_usd, self.loads)


class RequestTotals:
    """Fed by the Deck on the event loop (`hop`, `probe`); read by the metrics collector (`snapshot`). One lock, so
    a reader on another thread sees whole updates."""

    def __init__(self, *, models_per_provider: int = MODEL_LABELS_PER_PROVIDER) -> None:
        self.models_per_provider = models_per_provider
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], SeriesTotals] = {}
        self._model_labels: dict[str, dict[str, str]] = {}
        self._routes: dict[str, str] = {}
        self._loaded: dict[str, frozenset[str]] = {}

    def model_label(self, provider: str, model: str) -> str:
        """The label `model` counts under at `provider`: its own (cleaned) name while the provider has room for
        one more, `OTHER` after; a model keeps the label it got first, so counters never move between series."""
        with self._lock:
            return self._label(provider, model)

    def _label(self, provider: str, model: str) -> str:
        labels = self._model_labels.setdefault(provider, {})
        label = labels.get(model)
        if label is None:
            if len(labels) >= self.models_per_provider:
                return OTHER
            label = labels[model] = clean_label(model)
        return label

    def _route(self, via: str) -> str:
        if "/" in via:  # a PROVIDER/MODEL target asked for directly, not an alias of the config
            return DIRECT_ROUTE
        label = self._routes.get(via)
        if label is None:
            if len(self._routes) >= ROUTE_LABELS:
                return OTHER
            label = self._routes[via] = clean_label(via)
        return label

    def _at(self, provider: str, model: str) -> SeriesTotals:
        key = (provider, self._label(provider, model))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = SeriesTotals()
        return series

    def hop(self, attempt: Attempt, usage: Usage | None, cost_usd: float) -> None:
        """One call to a provider ended (the router's hop observer, after skipped hops are left out)."""
        with self._lock:
            series = self._at(attempt.provider, attempt.model)
            series.calls[self._route(attempt.via), attempt.outcome] += 1
            if attempt.outcome in ("error", "broken"):
                series.errors[error_class(attempt.error_kind)] += 1
            elif attempt.outcome == "ok":
                series.duration.observe(attempt.ms / 1000.0)
                if attempt.ttft_ms is not None:
                    series.ttft.observe(attempt.ttft_ms / 1000.0)
            if usage is not None:
                series.prompt_tokens += usage.prompt_tokens
                series.completion_tokens += usage.completion_tokens
            if cost_usd > 0:  # a price is never negative; the check keeps a counter from ever going back
                series.cost_usd += cost_usd

    def probe(self, event: HealthEvent) -> None:
        """A health probe: a model it shows loaded that the provider's last answering probe did not is a load.
        Probes are seconds apart, so a model loaded and unloaded between two of them is not seen."""
        if event.health.status not in ("up", "degraded"):
            return  # a probe that got no answer says nothing about what is loaded
        loaded = frozenset(event.health.models_loaded)
        with self._lock:
            before = self._loaded.get(event.provider)
            self._loaded[event.provider] = loaded
            if before is None:
                return  # the first answer: what is loaded already was loaded before this deck looked
            for model in sorted(loaded - before):
                self._at(event.provider, model).loads += 1

    def snapshot(self) -> dict[tuple[str, str], SeriesTotals]:
        """(provider, model label) → a copy of its totals."""
        with self._lock:
            return {key: series.copy() for key, series in self._series.items()}
