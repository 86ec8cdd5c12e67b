"""A tiny Prometheus text-format reader, and the vLLM / llama.cpp `/metrics` summaries built on it."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Keys of the summaries below; the same names across backends so the UI can show one row per provider.
REQUESTS_RUNNING = "requests_running"
REQUESTS_WAITING = "requests_waiting"
KV_CACHE_USAGE = "kv_cache_usage"  # fraction 0–1
TTFT_P50_S = "ttft_p50_s"
TTFT_P90_S = "ttft_p90_s"
TTFT_MEAN_S = "ttft_mean_s"
REQUESTS_TOTAL = "requests_total"
PROMPT_TOKENS_TOTAL = "prompt_tokens_total"
GENERATION_TOKENS_TOTAL = "generation_tokens_total"
PROMPT_TOKENS_PER_S = "prompt_tokens_per_s"
GENERATION_TOKENS_PER_S = "generation_tokens_per_s"

_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?\s*$")
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass(frozen=True, slots=True)
class Sample:
    """One sample line: metric name, its labels and its value."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    value: float = 0.0


def _parse_value(text: str) -> float | None:
    lowered = text.lower()
    if lowered in ("+inf", "inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    try:
        return float(text)
    except ValueError:
        return None


def _parse_labels(text: str) -> dict[str, str] | None:
    labels: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None or match.end() == position:
            return None if text[position:].strip() else labels
        labels[match.group(1)] = match.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        position = match.end()
    return labels


def parse_prometheus(text: str) -> list[Sample]:
    """Every sample line of an exposition; comments, blank and unreadable lines are skipped, never raised."""
    samples: list[Sample] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        value = _parse_value(match.group("value"))
        labels = _parse_labels(match.group("labels") or "")
        if value is None or labels is None:
            continue
        samples.append(Sample(match.group("name"), labels, value))
    return samples


def _first_present(samples: Iterable[Sample], names: tuple[str, ...]) -> list[float]:
    listed = list(samples)
    for name in names:
        values = [s.value for s in listed if s.name == name and not math.isnan(s.value)]
        if values:
            return values
    return []


def metric_sum(samples: Iterable[Sample], *names: str) -> float | None:
    """The sum over all label sets of the first name present (later names are fallbacks), or None."""
    values = _first_present(samples, names)
    return sum(values) if values else None


def metric_mean(samples: Iterable[Sample], *names: str) -> float | None:
    """The mean over all label sets of the first name present (later names are fallbacks), or None."""
    values = _first_present(samples, names)
    return sum(values) / len(values) if values else None


def histogram_quantile(samples: Iterable[Sample], name: str, quantile: float) -> float | None:
    """Like PromQL histogram_quantile over `<name>_bucket`, summed across label sets; None with no data."""
    buckets: dict[float, float] = {}
    for sample in samples:
        if sample.name != f"{name}_bucket" or "le" not in sample.labels:
            continue
        bound = _parse_value(sample.labels["le"])
        if bound is None or math.isnan(bound) or math.isnan(sample.value):
            continue
        buckets[bound] = buckets.get(bound, 0.0) + sample.value
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = quantile * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # the answer lies beyond the last finite bucket; report its edge
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _put(summary: dict[str, float], key: str, value: float | None) -> None:
    if value is not None and math.isfinite(value):
        summary[key] = value


def _ttft(summary: dict[str, float], samples: list[Sample], name: str) -> None:
    _put(summary, TTFT_P50_S, histogram_quantile(samples, name, 0.5))
    _put(summary, TTFT_P90_S, histogram_quantile(samples, name, 0.9))
    total = metric_sum(samples, f"{name}_sum")
    count = metric_sum(samples, f"{name}_count")
    if total is not None and count:
        _put(summary, TTFT_MEAN_S, total / count)


def vllm_summary(text: str) -> dict[str, float]:
    """Running/waiting requests, KV-cache use (current name, else the pre-0.9 one), TTFT and token counters.
    Names read from vLLM's source (PROTOCOLS.md §4), not recorded from a running server."""
    samples = parse_prometheus(text)
    summary: dict[str, float] = {}
    _put(summary, REQUESTS_RUNNING, metric_sum(samples, "vllm:num_requests_running"))
    _put(summary, REQUESTS_WAITING, metric_sum(samples, "vllm:num_requests_waiting"))
    # A per-engine gauge: the mean is the honest single figure when several engines report.
    _put(summary, KV_CACHE_USAGE, metric_mean(samples, "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"))
    _ttft(summary, samples, "vllm:time_to_first_token_seconds")
    _put(summary, REQUESTS_TOTAL, metric_sum(samples, "vllm:request_success_total"))
    _put(summary, PROMPT_TOKENS_TOTAL, metric_sum(samples, "vllm:prompt_tokens_total"))
    _put(summary, GENERATION_TOKENS_TOTAL, metric_sum(samples, "vllm:generation_tokens_total"))
    return summary


def llamacpp_summary(text: str) -> dict[str, float]:
    """Processing/deferred requests, average throughput and token counters of a llama-server.

    Names recorded (../shared/fixtures/llamacpp_metrics.txt). There `prompt_tokens_total` counts only the
    tokens evaluated, "excluding cached tokens" (llamacpp:prompt_tokens_cached_total holds those), unlike the
    usage a reply reports, which includes them."""
    samples = parse_prometheus(text)
    summary: dict[str, float] = {}
    _put(summary, REQUESTS_RUNNING, metric_sum(samples, "llamacpp:requests_processing"))
    _put(summary, REQUESTS_WAITING, metric_sum(samples, "llamacpp:requests_deferred"))
    _put(summary, PROMPT_TOKENS_PER_S, metric_sum(samples, "llamacpp:prompt_tokens_seconds"))
    _put(summary, GENERATION_TOKENS_PER_S, metric_sum(samples, "llamacpp:predicted_tokens_seconds"))
    _put(summary, PROMPT_TOKENS_TOTAL, metric_sum(samples, "llamacpp:prompt_tokens_total"))
    _put(summary, GENERATION_TOKENS_TOTAL, metric_sum(samples, "llamacpp:tokens_predicted_total"))
    return summary
