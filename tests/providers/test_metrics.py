"""Rolling metrics with a fake clock: percentiles, window expiry, bounded memory, series, spend, routing signals."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest

from providers.metrics import RollingMetrics

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
HISTOGRAM_ERROR = 0.045  # 8 bins per doubling → within ±4.4 %


def test_percentiles_of_known_samples() -> None:
    metrics = RollingMetrics()
    for ms in range(1, 101):
        metrics.record("box", "llama", ok=True, latency_ms=float(ms), ttft_ms=ms / 10, now=T0)
    summary = metrics.summary("box", window_s=60, now=T0)
    assert summary.requests == 100
    assert summary.latency_p50 == pytest.approx(50, rel=HISTOGRAM_ERROR)
    assert summary.latency_p95 == pytest.approx(95, rel=HISTOGRAM_ERROR)
    assert summary.latency_p99 == pytest.approx(99, rel=HISTOGRAM_ERROR)
    assert summary.ttft_p50 == pytest.approx(5.0, rel=HISTOGRAM_ERROR)


def test_single_sample_is_reported_exactly() -> None:
    metrics = RollingMetrics()
    metrics.record("box", "llama", ok=True, latency_ms=1234.5, ttft_ms=88.0, now=T0)
    summary = metrics.summary("box", "llama", now=T0)
    assert summary.latency_p50 == summary.latency_p99 == 1234.5
    assert summary.ttft_p95 == 88.0


def test_errors_are_counted_by_kind_and_excluded_from_latency() -> None:
    metrics = RollingMetrics()
    metrics.record("box", "llama", ok=True, latency_ms=100.0, now=T0)
    metrics.record("box", "llama", ok=False, error_kind="timeout", latency_ms=30_000.0, now=T0)
    metrics.record("box", "llama", ok=False, error_kind="rate_limited", now=T0)
    metrics.record("box", "llama", ok=False, error_kind="timeout", now=T0)
    summary = metrics.summary("box", now=T0)
    assert (summary.requests, summary.errors) == (4, 3)
    assert summary.error_rate == pytest.approx(0.75)
    assert summary.errors_by_kind == {"timeout": 2, "rate_limited": 1}
    assert summary.latency_p99 == 100.0


def test_old_events_leave_the_window() -> None:
    clock = [T0]
    metrics = RollingMetrics(buckets=60, clock=lambda: clock[0])
    metrics.record("box", "llama", ok=True, latency_ms=500.0, cost_usd=0.25)
    clock[0] = T0 + 30
    metrics.record("box", "llama", ok=True, latency_ms=100.0)
    assert metrics.summary("box", window_s=60).requests == 2
    assert metrics.summary("box", window_s=10).requests == 1
    clock[0] = T0 + 59
    assert metrics.summary("box", window_s=60).requests == 2
    clock[0] = T0 + 60
    after = metrics.summary("box", window_s=60)
    assert after.requests == 1
    assert after.latency_p50 == 100.0
    assert after.cost_usd == 0.0
    clock[0] = T0 + 600
    assert metrics.summary("box", window_s=600).requests == 0  # window is capped at the ring: 60 s


def test_memory_stays_bounded_over_a_long_run() -> None:
    metrics = RollingMetrics(buckets=300)
    at = T0
    for i in range(100_000):
        at += 0.37  # 100k events over ~10 hours, far longer than the 5-minute ring
        metrics.record("box", "llama", ok=i % 10 != 0, error_kind="server_error", latency_ms=50.0 + i % 400,
                       ttft_ms=10.0, completion_tokens=20, now=at)
        if i % 10_000 == 0:
            assert metrics.allocated_buckets("box", "llama") == metrics.ring_size
    assert metrics.allocated_buckets("box", "llama") == metrics.ring_size < 300
    summary = metrics.summary("box", window_s=300, now=at)
    assert 300 / 0.37 - 2 <= summary.requests <= 300 / 0.37 + 2


def test_series_count_is_capped() -> None:
    metrics = RollingMetrics(buckets=10, max_series=3)
    for n in range(5):
        metrics.record("box", f"model-{n}", ok=True, latency_ms=1.0, now=T0)
    assert metrics.models("box") == ["model-2", "model-3", "model-4"]


def test_series_shape_and_values() -> None:
    metrics = RollingMetrics()
    now = 1000.0
    metrics.record("box", "a", ok=True, latency_ms=200.0, completion_tokens=50, cost_usd=0.5, now=975.0)
    metrics.record("box", "b", ok=False, error_kind="timeout", now=995.5)
    metrics.record("box", "b", ok=True, latency_ms=400.0, now=999.0)
    requests = metrics.series("box", "requests", window_s=60, step_s=10, now=now)
    assert [t for t, _ in requests] == [941.0, 951.0, 961.0, 971.0, 981.0, 991.0]
    assert [v for _, v in requests] == [0.0, 0.0, 0.0, 1.0, 0.0, 2.0]
    latency = metrics.series("box", "latency_p50", window_s=60, step_s=10, now=now)
    assert [v for _, v in latency] == [None, None, None, 200.0, None, 400.0]
    errors = metrics.series("box", "error_rate", window_s=60, step_s=10, model="b", now=now)
    assert errors[-1] == (991.0, 0.5)
    cost = metrics.series("box", "cost_usd", window_s=30, step_s=5, now=now)
    assert len(cost) == 6
    assert sum(v or 0.0 for _, v in cost) == pytest.approx(0.5)


def test_tokens_per_second_is_decode_speed() -> None:
    metrics = RollingMetrics()
    # 100 tokens in 1000 ms of which 500 ms waited for the first token → 200 tokens/s while generating.
    metrics.record("box", "llama", ok=True, latency_ms=1000.0, ttft_ms=500.0, completion_tokens=100, now=T0)
    metrics.record("box", "llama", ok=True, latency_ms=1500.0, ttft_ms=500.0, completion_tokens=200, now=T0)
    summary = metrics.summary("box", now=T0)
    assert summary.completion_tokens == 300
    assert summary.tokens_per_s == pytest.approx(200.0)


def test_recent_latency_follows_successful_calls() -> None:
    metrics = RollingMetrics(smoothing=0.5)
    assert metrics.recent_latency("box", "llama") is None
    metrics.record("box", "llama", ok=True, latency_ms=100.0, ttft_ms=20.0, now=T0)
    metrics.record("box", "llama", ok=True, latency_ms=300.0, ttft_ms=40.0, now=T0)
    metrics.record("box", "llama", ok=False, error_kind="timeout", latency_ms=99_999.0, now=T0)
    assert metrics.recent_latency("box", "llama") == pytest.approx(200.0)
    assert metrics.recent_latency("box") == pytest.approx(200.0)
    assert metrics.recent_ttft("box", "llama") == pytest.approx(30.0)


def test_in_flight_counts_begin_and_end() -> None:
    metrics = RollingMetrics()
    metrics.begin("box")
    metrics.begin("box")
    metrics.end("box")
    assert metrics.in_flight("box") == 1
    metrics.end("box")
    metrics.end("box")
    assert metrics.in_flight("box") == 0
    assert metrics.in_flight("elsewhere") == 0


def test_daily_spend_resets_at_midnight() -> None:
    metrics = RollingMetrics(tz=UTC)
    evening = datetime(2025, 3, 1, 23, 59, tzinfo=UTC).timestamp()
    metrics.seed_spend("claude", 1.0, now=evening)
    metrics.record("claude", "sonnet", ok=True, latency_ms=10.0, cost_usd=0.5, now=evening)
    assert metrics.spend_today("claude", now=evening) == pytest.approx(1.5)
    metrics.record("claude", "sonnet", ok=True, latency_ms=10.0, cost_usd=0.25, now=evening + 120)
    assert metrics.spend_today("claude", now=evening + 120) == pytest.approx(0.25)
    assert metrics.spend_by_day("claude") == {"2025-03-01": pytest.approx(1.5), "2025-03-02": pytest.approx(0.25)}


def test_a_series_keeps_the_same_buckets_from_its_first_call_on() -> None:
    metrics = RollingMetrics()  # 15 minutes: 60 × 1 s, 151 × 2 s and 91 × 10 s buckets, not 900 × 1 s
    assert metrics.allocated_buckets("box", "llama") == 0
    metrics.record("box", "llama", ok=True, latency_ms=80.0, now=T0)
    assert metrics.allocated_buckets("box", "llama") == metrics.ring_size == 302
    for second in range(1, 2 * 3600, 3):  # two hours, calls of every kind
        metrics.record("box", "llama", ok=second % 7 != 0, error_kind="timeout", latency_ms=10.0 + second % 997,
                       ttft_ms=5.0, completion_tokens=second % 50, cost_usd=0.001, now=T0 + second)
        assert metrics.allocated_buckets("box", "llama") == 302


def test_a_long_window_never_counts_calls_older_than_itself() -> None:
    metrics = RollingMetrics()
    metrics.record("box", "llama", ok=True, latency_ms=100.0, cost_usd=0.5, now=T0)  # T0 starts a 10 s bucket
    metrics.record("box", "llama", ok=True, latency_ms=200.0, now=T0 + 5)
    assert metrics.summary("box", window_s=900, now=T0 + 899).requests == 2
    # One second later T0 is out of the window, and so is T0 + 5: it shares a 10 s bucket with T0 and a window
    # past the last 5 minutes is made of whole buckets, so it leaves out its oldest few seconds rather than count
    # older ones.
    later = metrics.summary("box", window_s=900, now=T0 + 900)
    assert (later.requests, later.cost_usd, later.latency_p50) == (0, 0.0, None)
    metrics.record("box", "llama", ok=True, latency_ms=300.0, now=T0 + 290)  # a 2 s bucket, 5-minute tier
    assert metrics.summary("box", window_s=300, now=T0 + 589).requests == 1
    assert metrics.summary("box", window_s=300, now=T0 + 590).requests == 0
    assert metrics.summary("box", window_s=900, now=T0 + 590).requests == 3


def test_percentiles_over_fifteen_minutes_are_right() -> None:
    metrics = RollingMetrics()
    latencies = [float(ms) for ms in range(1, 901)]
    for second, ms in enumerate(reversed(latencies)):  # one call a second, the slowest first
        metrics.record("box", "llama", ok=True, latency_ms=ms, ttft_ms=ms / 10, completion_tokens=10,
                       now=T0 + second)
    summary = metrics.summary("box", window_s=900, now=T0 + 899)
    assert summary.requests == 900
    assert summary.latency_p50 == pytest.approx(450, rel=HISTOGRAM_ERROR)
    assert summary.latency_p95 == pytest.approx(855, rel=HISTOGRAM_ERROR)
    assert summary.latency_p99 == pytest.approx(891, rel=HISTOGRAM_ERROR)
    assert summary.ttft_p50 == pytest.approx(45, rel=HISTOGRAM_ERROR)
    # The last minute alone holds the 60 fastest calls.
    minute = metrics.summary("box", window_s=60, now=T0 + 899)
    assert minute.requests == 60
    assert minute.latency_p50 == pytest.approx(30, rel=HISTOGRAM_ERROR)
    assert minute.latency_p99 == pytest.approx(60, rel=HISTOGRAM_ERROR)


@pytest.mark.parametrize(("window_s", "step_s"), [(60, 2), (180, 6), (300, 10), (600, 20), (900, 30)])
def test_every_step_of_the_graph_ranges_counts_its_own_time(window_s: int, step_s: int) -> None:
    metrics = RollingMetrics()
    for second in range(-1000, 1):  # one call a second up to now
        metrics.record("box", "llama", ok=True, latency_ms=100.0 + second % 3, cost_usd=0.01, now=T0 + 3 + second)
    now = T0 + 3.5  # not on any bucket's edge
    points = metrics.series("box", "requests", window_s, step_s, now=now)
    assert len(points) == window_s // step_s
    starts = [t for t, _ in points]
    assert all(b - a == step_s for a, b in pairwise(starts))
    assert starts[-1] <= now < starts[-1] + step_s
    *whole, newest = [v for _, v in points]
    assert whole == [float(step_s)] * len(whole)  # no step short or over where coarse buckets take over
    assert newest == now // 1 - starts[-1] + 1  # the step still filling holds the calls up to now
    latency = metrics.series("box", "latency_p50", window_s, step_s, now=now)
    assert all(v is not None and 100.0 <= v <= 102.0 for _, v in latency)


def test_a_bin_past_sixteen_bits_keeps_counting() -> None:
    metrics = RollingMetrics()
    for _ in range(70_000):
        metrics.record("box", "llama", ok=True, latency_ms=250.0, now=T0)
    metrics.record("box", "llama", ok=True, latency_ms=9000.0, now=T0)
    summary = metrics.summary("box", window_s=900, now=T0 + 1)
    assert summary.requests == 70_001
    assert summary.latency_p50 == pytest.approx(250, rel=HISTOGRAM_ERROR)
    assert summary.latency_p99 == pytest.approx(250, rel=HISTOGRAM_ERROR)
    assert metrics.series("box", "latency_p99", 60, 2, now=T0 + 1)[-1][1] == pytest.approx(250, rel=HISTOGRAM_ERROR)
    # Once the buckets are reused, nothing of those calls is left behind.
    metrics.record("box", "llama", ok=True, latency_ms=40.0, now=T0 + 3600)
    late = metrics.summary("box", window_s=900, now=T0 + 3600)
    assert (late.requests, late.latency_p50, late.latency_p99) == (1, 40.0, 40.0)


@pytest.mark.parametrize(("span", "kept"), [(60, 60), (120, 120), (150, 136), (900, 302), (3600, 572)])
def test_coarse_buckets_only_where_they_keep_fewer(span: int, kept: int) -> None:
    metrics = RollingMetrics(buckets=span)
    metrics.record("box", "llama", ok=True, latency_ms=1.0, now=T0)
    assert metrics.allocated_buckets("box", "llama") == metrics.ring_size == kept <= span
    assert metrics.summary("box", window_s=span, now=T0 + span - 1).requests == 1
    assert metrics.summary("box", window_s=span, now=T0 + span).requests == 0
