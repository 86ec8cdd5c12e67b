"""The Deck's state as Prometheus metrics, read at scrape time: a custom collector on a registry of its own.

Nothing here keeps counts of its own. Counters come from the Deck's running totals (providers/request_totals.py,
never reset, model names folded there), gauges from what the Deck knows now: the last health probes, the breakers,
the rolling metrics' last minute, the spend book and the budgets, the GPU readings when the Deck has them. Every
metric, its labels and their bounds are listed in docs/METRICS.md.

Labels: `provider`, `kind` and `host` come from the config (a provider a reload removed keeps its last ones);
`model` is folded by RequestTotals (at most MODEL_LABELS_PER_PROVIDER values per provider, then `other`); `route`
is a configured alias, `direct` for a PROVIDER/MODEL target, or `other` past ROUTE_LABELS.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from providers.breaker import BREAKER_RANK, BreakerReading
from providers.gpu_info import HostGpus
from providers.host_cpu import HostCpu, this_host
from providers.request_totals import OTHER, SeriesTotals, clean_label

if TYPE_CHECKING:
    from providers.deck import Deck

PROVIDER_LABELS = ("provider", "kind", "host")
MODEL_LABELS = (*PROVIDER_LABELS, "model")
ANSWERING = ("up", "degraded")
"""Health statuses that count as up: the backend answered."""
SPEED_WINDOW_S = 60.0
"""`llm_tokens_per_second` is the decode speed over this last stretch of time."""


def gpu_readings(deck: Deck) -> Mapping[str, HostGpus]:
    """`deck.gpus()` (host → last readings) where the Deck has it; nothing otherwise. A scrape never waits for a
    reading: an asynchronous `gpus` is left alone."""
    reader = getattr(deck, "gpus", None)
    if not callable(reader):
        return {}
    readings = reader()
    if inspect.iscoroutine(readings):
        readings.close()
        return {}
    return readings if isinstance(readings, Mapping) else {}


class DeckCollector(Collector):
    """Every llmdeck metric of one Deck, read when Prometheus scrapes."""

    def __init__(self, deck: Deck, cpu: HostCpu | None = None) -> None:
        self.deck = deck
        self.cpu = cpu or HostCpu()
        self.cpu_host = this_host()

    def describe(self) -> list[Metric]:
        return []  # the names are fixed; nothing to read the Deck for at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._totals()
        yield from self._providers()
        yield self._breakers()
        yield self._speed()
        yield from self._budgets()
        yield from self._gpus()
        yield self._cpu()

    # --- labels -----------------------------------------------------------------------------------------

    def _provider_labels(self, provider: str) -> list[str]:
        config = self.deck.providers.get(provider) or self.deck.retired.get(provider)
        if config is None:
            return [provider, "unknown", ""]
        return [provider, config.kind, config.host or ""]

    # --- counters and histograms ---------------------------------------------------------------------------

    def _totals(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "llm_requests", "Calls to a provider (each hop of a routed request: a retry or fallback is a call of its "
            "own), by the route that led there and how the call ended (ok, error, broken, cancelled).",
            labels=[*MODEL_LABELS, "route", "outcome"])
        errors = CounterMetricFamily(
            "llm_errors", "Failed calls by the class of providers/errors.py that says why (a broken stream counts "
            "as its cause).", labels=[*MODEL_LABELS, "error_class"])
        duration = HistogramMetricFamily(
            "llm_request_duration_seconds", "Time of successful calls, from sending to the last byte.",
            labels=list(MODEL_LABELS))
        ttft = HistogramMetricFamily(
            "llm_time_to_first_token_seconds", "Time from sending a successful call to its first text.",
            labels=list(MODEL_LABELS))
        prompt = CounterMetricFamily("llm_prompt_tokens", "Prompt tokens of calls that reported or counted usage.",
                                     labels=list(MODEL_LABELS))
        completion = CounterMetricFamily("llm_completion_tokens", "Completion tokens of calls that reported or "
                                         "counted usage.", labels=list(MODEL_LABELS))
        cost = CounterMetricFamily("llm_cost", "US dollars the calls cost by the price table (0 for local models).",
                                   labels=list(MODEL_LABELS))
        loads = CounterMetricFamily("llm_model_loads", "Models that a health probe found loaded and the provider's "
                                    "previous answering probe had not.", labels=list(MODEL_LABELS))
        for (provider, model), series in sorted(self.deck.totals.snapshot().items()):
            labels = [*self._provider_labels(provider), model]
            _add_series(labels, series, requests=requests, errors=errors, duration=duration, ttft=ttft)
            prompt.add_metric(labels, series.prompt_tokens)
            completion.add_metric(labels, series.completion_tokens)
            cost.add_metric(labels, series.cost_usd)
            loads.add_metric(labels, series.loads)
        yield from (requests, errors, duration, ttft, prompt, completion, cost, loads)

    # --- gauges ---------------------------------------------------------------------------------------------

    def _providers(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("llm_provider_up", "1 when the provider's last health probe was answered (up or "
                               "degraded), 0 when down, unauthorized, unknown or not probed yet.",
                               labels=list(PROVIDER_LABELS))
        active = GaugeMetricFamily("llm_active_models", "Models the provider's last answering probe reported "
                                   "loaded (model servers only).", labels=list(PROVIDER_LABELS))
        busy = GaugeMetricFamily("llm_requests_in_flight", "Calls under way at the provider now.",
                                 labels=list(PROVIDER_LABELS))
        health = self.deck.last_health()
        for provider in self.deck.providers:
            labels = self._provider_labels(provider)
            probe = health.get(provider)
            answered = probe is not None and probe.status in ANSWERING
            up.add_metric(labels, 1.0 if answered else 0.0)
            adapter = self.deck.adapters.get(provider)
            if adapter is None:
                continue
            busy.add_metric(labels, self.deck.in_flight(provider))
            if probe is not None and answered and (adapter.capabilities.chat or adapter.capabilities.images):
                active.add_metric(labels, len(probe.models_loaded))
        yield from (up, active, busy)

    def _breakers(self) -> Metric:
        state = GaugeMetricFamily("llm_breaker_state", "The circuit breaker of a provider and model: 0 closed, "
                                  "1 half-open, 2 open (the worst one where models are folded).",
                                  labels=list(MODEL_LABELS))
        for provider in self.deck.adapters:
            worst: dict[str, BreakerReading] = {}
            for model, reading in self.deck.breaker_states(provider).items():
                label = self.deck.totals.model_label(provider, model)
                if label not in worst or BREAKER_RANK[reading.state] > BREAKER_RANK[worst[label].state]:
                    worst[label] = reading
            for label, reading in worst.items():
                state.add_metric([*self._provider_labels(provider), label], BREAKER_RANK[reading.state])
        return state

    def _speed(self) -> Metric:
        speed = GaugeMetricFamily("llm_tokens_per_second", "Decode speed of successful calls over the last minute: "
                                  "completion tokens over the time after the first token (absent when there were "
                                  "none, and for models folded into `other`).", labels=list(MODEL_LABELS))
        stats = self.deck.request_stats()
        for provider in stats.providers():
            for model in stats.models(provider):
                label = self.deck.totals.model_label(provider, model)
                if label == OTHER:
                    continue
                tokens_per_s = stats.summary(provider, model, SPEED_WINDOW_S).tokens_per_s
                if tokens_per_s is not None:
                    speed.add_metric([*self._provider_labels(provider), label], tokens_per_s)
        return speed

    def _budgets(self) -> Iterator[Metric]:
        spent = GaugeMetricFamily("llm_budget_spent_usd", "US dollars spent today (period=day, local time) and "
                                  "this month (period=month), from the ledger at start plus this run.",
                                  labels=["provider", "period"])
        limit = GaugeMetricFamily("llm_budget_limit_usd", "The configured budget of the provider for the period.",
                                  labels=["provider", "period"])
        book = self.deck.spend
        for provider in sorted({*book.budgets, *book.day, *book.month}):
            book.over_budget(provider)  # a read rolls the book over to today's day and month first
            spent.add_metric([provider, "day"], book.day.get(provider, 0.0))
            spent.add_metric([provider, "month"], book.month.get(provider, 0.0))
            budget = book.budgets.get(provider)
            if budget is not None and budget.usd_per_day is not None:
                limit.add_metric([provider, "day"], budget.usd_per_day)
            if budget is not None and budget.usd_per_month is not None:
                limit.add_metric([provider, "month"], budget.usd_per_month)
        yield from (spent, limit)

    def _gpus(self) -> Iterator[Metric]:
        used = GaugeMetricFamily("llm_gpu_memory_usage_bytes", "Memory in use on the GPU, as last read.",
                                 labels=["host", "gpu"])
        total = GaugeMetricFamily("llm_gpu_memory_total_bytes", "The GPU's memory.", labels=["host", "gpu"])
        busy = GaugeMetricFamily("llm_gpu_utilization_percent", "The GPU's utilisation, as last read.",
                                 labels=["host", "gpu"])
        for host, readings in sorted(gpu_readings(self.deck).items()):
            for gpu in readings.gpus:
                labels = [clean_label(host), str(gpu.index)]
                if gpu.memory_used_bytes is not None:
                    used.add_metric(labels, gpu.memory_used_bytes)
                if gpu.memory_total_bytes is not None:
                    total.add_metric(labels, gpu.memory_total_bytes)
                if gpu.utilization_pct is not None:
                    busy.add_metric(labels, gpu.utilization_pct)
        yield from (used, total, busy)

    def _cpu(self) -> Metric:
        cpu = GaugeMetricFamily("llm_cpu_usage_percent", "Busy share of all CPUs of the machine llmdeck runs on "
                                "(/proc/stat), over the time since the previous scrape.", labels=["host"])
        percent = self.cpu.percent()
        if percent is not None:
            cpu.add_metric([self.cpu_host], percent)
        return cpu


def _add_series(labels: list[str], series: SeriesTotals, *, requests: CounterMetricFamily,
                errors: CounterMetricFamily, duration: HistogramMetricFamily, ttft: HistogramMetricFamily) -> None:
    for (route, outcome), count in sorted(series.calls.items()):
        requests.add_metric([*labels, route, outcome], count)
    for name, count in sorted(series.errors.items()):
        errors.add_metric([*labels, name], count)
    duration.add_metric(labels, series.duration.cumulative(), series.duration.total)
    ttft.add_metric(labels, series.ttft.cumulative(), series.ttft.total)


def deck_registry(deck: Deck) -> CollectorRegistry:
    """A registry of its own (never the process-wide default) holding the Deck's collector only."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeckCollector(deck))
    return registry
