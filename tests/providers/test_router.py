"""Router decisions with scripted fake adapters and a fake clock."""

from __future__ import annotations

import random

import pytest

from providers.base import ChatRequest, Message
from providers.breaker import BreakerPolicy
from providers.errors import (
    AuthFailedError,
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitedError,
    ServerError,
    StreamBrokenError,
    UnreachableError,
)
from providers.limits import LimitPolicy
from providers.router import BackoffPolicy, RouteFailedError, Router, UnknownTargetError
from providers.routing import Route, RouteTimeouts, Target
from tests.providers.router_fakes import FakeAdapter, FakeClock, FakeSignals, Script

REQUEST = ChatRequest(model="", messages=(Message("user", "hi"),))


def make_router(adapters: list[FakeAdapter], routes: list[Route], clock: FakeClock | None = None,
                **kwargs: object) -> tuple[Router, FakeClock]:
    clock = clock or FakeClock()
    router = Router({a.name: a for a in adapters}, routes, clock=clock, sleep=clock.sleep,
                    rng=random.Random(7), **kwargs)  # type: ignore[arg-type]
    return router, clock


def chain(*providers: str, **route_kwargs: object) -> Route:
    return Route(alias="chat", targets=tuple(Target(p, f"{p}-model") for p in providers), **route_kwargs)  # type: ignore[arg-type]


async def test_first_ready_hop_serves_and_is_recorded() -> None:
    a, b = FakeAdapter("a"), FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b")])
    result = await router.chat("chat", REQUEST)
    assert result.text == "Hello world"
    assert result.served_by == Target("a", "a-model")
    assert [(x.provider, x.outcome) for x in result.attempts] == [("a", "ok")]
    assert a.requests[0].model == "a-model"
    assert b.requests == []
    assert result.usage is not None and result.usage.completion_tokens == 2


@pytest.mark.parametrize("error", [
    UnreachableError("refused"), ProviderTimeoutError("slow", phase="connect"), RateLimitedError("429"),
    OverloadedError("503"), ServerError("500"), AuthFailedError("401"), QuotaExhaustedError("402"),
    ProtocolError("garbage"), NotFoundError("model 'x' not found"),
])
async def test_fallback_error_moves_to_next_hop(error: ProviderError) -> None:
    a, b = FakeAdapter("a", Script(pieces=(), error=error)), FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b")])
    result = await router.chat("chat", REQUEST)
    assert result.served_by == Target("b", "b-model")
    assert [(x.provider, x.outcome, x.error_kind) for x in result.attempts] == [
        ("a", "error", error.kind), ("b", "ok", None)]


@pytest.mark.parametrize("error", [BadRequestError("bad"), ContentFilteredError("filtered")])
async def test_request_errors_stop_without_trying_elsewhere(error: ProviderError) -> None:
    a, b = FakeAdapter("a", Script(pieces=(), error=error)), FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b", retries=3)])
    with pytest.raises(RouteFailedError) as info:
        await router.chat("chat", REQUEST)
    assert info.value.cause is error
    assert len(a.requests) == 1
    assert b.requests == []


async def test_retryable_error_is_retried_with_bounded_exponential_backoff() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=ServerError("boom")), Script(pieces=(), error=ServerError("boom")),
                    Script())
    router, clock = make_router([a], [chain("a", retries=2)], backoff=BackoffPolicy(base_s=0.5, cap_s=8))
    result = await router.chat("chat", REQUEST)
    assert result.text == "Hello world"
    assert len(a.requests) == 3
    assert len(clock.sleeps) == 2
    assert 0.25 <= clock.sleeps[0] <= 0.5
    assert 0.5 <= clock.sleeps[1] <= 1.0
    assert [x.tries for x in result.attempts] == [1, 2, 3]


async def test_non_retryable_error_is_not_retried_on_the_same_hop() -> None:
    a, b = FakeAdapter("a", Script(pieces=(), error=AuthFailedError("401"))), FakeAdapter("b")
    router, clock = make_router([a, b], [chain("a", "b", retries=3)])
    await router.chat("chat", REQUEST)
    assert len(a.requests) == 1
    assert clock.sleeps == []


async def test_short_retry_after_is_honoured_exactly() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=RateLimitedError("slow down", retry_after=3.0)), Script())
    router, clock = make_router([a], [chain("a", retries=1)])
    result = await router.chat("chat", REQUEST)
    assert clock.sleeps == [3.0]
    assert result.served_by == Target("a", "a-model")


async def test_long_retry_after_falls_back_and_opens_the_breaker_until_then() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=RateLimitedError("quota window", retry_after=30.0)))
    b = FakeAdapter("b")
    router, clock = make_router([a, b], [chain("a", "b", retries=2)])
    result = await router.chat("chat", REQUEST)
    assert clock.sleeps == []
    assert result.served_by == Target("b", "b-model")
    plan = router.explain("chat")
    assert plan[0].state == "skipped" and "breaker open" in plan[0].reason and "Retry-After 30s" in plan[0].reason
    clock.advance(31)
    assert router.explain("chat")[0].state == "ready"


async def test_breaker_opens_after_consecutive_failures_then_half_opens_for_one_probe() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=ServerError("down")))
    b = FakeAdapter("b")
    policy = BreakerPolicy(consecutive_failures=3, cooldown_s=30)
    router, clock = make_router([a, b], [chain("a", "b")])
    router.breakers.policy = policy
    for _ in range(3):
        await router.chat("chat", REQUEST)
    assert len(a.requests) == 3
    result = await router.chat("chat", REQUEST)
    assert len(a.requests) == 3, "open breaker must skip the hop"
    assert result.attempts[0].outcome == "skipped" and "breaker open" in result.attempts[0].reason
    clock.advance(31)
    assert router.breakers.get("a", "a-model").current(clock()) == "half_open"
    await router.chat("chat", REQUEST)  # the probe fails → open again
    assert len(a.requests) == 4
    assert router.breakers.get("a", "a-model").current(clock()) == "open"
    clock.advance(31)
    a.scripts = [Script()]
    result = await router.chat("chat", REQUEST)
    assert result.served_by == Target("a", "a-model")
    assert router.breakers.get("a", "a-model").current(clock()) == "closed"


async def test_breaker_opens_on_error_rate_over_window() -> None:
    ok, bad = Script(), Script(pieces=(), error=OverloadedError("503"))
    a = FakeAdapter("a", *([ok, bad] * 10))
    router, _ = make_router([a, FakeAdapter("b")], [chain("a", "b")])
    router.breakers.policy = BreakerPolicy(consecutive_failures=100, error_rate=0.5, min_requests=10)
    for _ in range(10):
        await router.chat("chat", REQUEST)
    breaker = router.breakers.get("a", "a-model")
    assert breaker.state == "open" and "error rate" in breaker.reason


async def test_half_open_lets_only_one_probe_through() -> None:
    router, clock = make_router([FakeAdapter("a")], [chain("a")])
    breaker = router.breakers.get("a", "a-model")
    breaker.open_until(clock(), clock() + 5, "test")
    clock.advance(6)
    assert breaker.allow(clock()) is True
    assert breaker.allow(clock()) is False


async def test_weighted_strategy_orders_in_proportion_to_weight() -> None:
    route = Route(alias="chat", strategy="weighted", targets=(Target("a", "m", 3.0), Target("b", "m", 1.0)))
    router, _ = make_router([FakeAdapter("a"), FakeAdapter("b")], [route])
    firsts = [router.explain("chat")[0].provider for _ in range(2000)]
    share = firsts.count("a") / len(firsts)
    assert 0.68 <= share <= 0.82  # P(a first) = 3/4 for Efraimidis–Spirakis keys


@pytest.mark.parametrize(("strategy", "signals", "expected"), [
    ("lowest-latency", FakeSignals(latency={"a": 300.0, "b": 40.0, "c": 90.0}), ["b", "c", "a"]),
    ("lowest-cost", FakeSignals(price={"a": 3e-6, "b": 1e-5, "c": 0.0}), ["c", "a", "b"]),
    ("lowest-latency", FakeSignals(latency={"c": 10.0}), ["c", "a", "b"]),
])
async def test_signal_strategies_order_by_signal_unknown_last(strategy: str, signals: FakeSignals,
                                                               expected: list[str]) -> None:
    route = chain("a", "b", "c", strategy=strategy)
    router, _ = make_router([FakeAdapter(p) for p in "abc"], [route], signals=signals)
    assert [hop.provider for hop in router.explain("chat")] == expected


async def test_least_busy_prefers_the_provider_with_fewer_streams_in_flight() -> None:
    a, b = FakeAdapter("a", Script(pieces=("x",) * 5, gap_s=0.05)), FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b", strategy="least-busy")])
    stream = router.stream("a/a-model", REQUEST)
    iterator = stream.__aiter__()
    await anext(iterator)  # one stream open on a
    assert [hop.provider for hop in router.explain("chat")] == ["b", "a"]
    await iterator.aclose()
    assert a.open_streams == 0
    assert [hop.provider for hop in router.explain("chat")] == ["a", "b"]


async def test_over_budget_provider_is_skipped_with_the_reason() -> None:
    signals = FakeSignals(budget={"a": "spent $5.02 of $5.00 today"})
    a, b = FakeAdapter("a"), FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b")], signals=signals)
    result = await router.chat("chat", REQUEST)
    assert a.requests == []
    assert result.attempts[0].outcome == "skipped"
    assert result.attempts[0].reason == "over budget: spent $5.02 of $5.00 today"


async def test_unhealthy_provider_is_skipped() -> None:
    router, _ = make_router([FakeAdapter("a"), FakeAdapter("b")], [chain("a", "b")],
                            signals=FakeSignals(status={"a": "down"}))
    plan = router.explain("chat")
    assert (plan[0].state, plan[0].reason) == ("skipped", "unhealthy (down)")
    assert (plan[1].state, plan[1].reason) == ("ready", "would serve now")


async def test_client_rpm_limit_skips_until_the_minute_passes() -> None:
    a, b = FakeAdapter("a"), FakeAdapter("b")
    router, clock = make_router([a, b], [chain("a", "b")], limits={"a": LimitPolicy(rpm=2)})
    for _ in range(3):
        result = await router.chat("chat", REQUEST)
    assert len(a.requests) == 2
    assert result.served_by == Target("b", "b-model")
    assert "client rpm limit 2" in result.attempts[0].reason
    clock.advance(61)
    assert (await router.chat("chat", REQUEST)).served_by == Target("a", "a-model")


async def test_max_concurrency_skips_while_the_provider_is_full() -> None:
    a, b = FakeAdapter("a", Script(pieces=("x",) * 3, gap_s=0.05)), FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b")], limits={"a": LimitPolicy(max_concurrency=1)})
    first = router.stream("chat", REQUEST).__aiter__()
    await anext(first)
    second = await router.chat("chat", REQUEST)
    assert second.served_by == Target("b", "b-model")
    assert "max concurrency" in second.attempts[0].reason
    await first.aclose()


async def test_hop_known_too_small_is_skipped_before_sending() -> None:
    big = ChatRequest(model="", messages=(Message("user", "x" * 4000),))
    a, b = FakeAdapter("a"), FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b")], signals=FakeSignals(window={"a": 512, "b": 32768}))
    result = await router.chat("chat", big)
    assert a.requests == []
    assert "context window 512 too small" in result.attempts[0].reason
    assert result.served_by == Target("b", "b-model")


async def test_context_too_long_skips_to_a_larger_window() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=ContextTooLongError("too long", n_ctx=4096)))
    b, c, d = FakeAdapter("b"), FakeAdapter("c"), FakeAdapter("d")
    signals = FakeSignals(window={"b": 4096, "c": 2048, "d": 131072})
    router, _ = make_router([a, b, c, d], [chain("a", "b", "c", "d")], signals=signals)
    result = await router.chat("chat", REQUEST)
    assert b.requests == [] and c.requests == []
    assert result.served_by == Target("d", "d-model")
    assert [x.outcome for x in result.attempts] == ["error", "skipped", "skipped", "ok"]


async def test_failure_after_first_chunk_is_a_broken_stream_not_a_fallback() -> None:
    a = FakeAdapter("a", Script(pieces=("Partial", " answer"), error=ServerError("died")))
    b = FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b")])
    seen: list[str] = []
    with pytest.raises(StreamBrokenError) as info:
        async for chunk in router.stream("chat", REQUEST):
            seen.append(chunk.text)
    assert info.value.partial == "Partial answer" == "".join(seen)
    assert isinstance(info.value.cause, ServerError)
    assert b.requests == []


async def test_continue_on_failover_sends_the_partial_answer_as_prefix() -> None:
    a = FakeAdapter("a", Script(pieces=("Hello", " wor"), error=ProtocolError("cut")))
    b = FakeAdapter("b", Script(pieces=("ld", "!")))
    router, _ = make_router([a, b], [chain("a", "b", continue_on_failover=True)])
    result = await router.chat("chat", REQUEST)
    assert result.text == "Hello world!"
    assert b.requests[0].assistant_prefix == "Hello wor"
    assert result.switches == [len("Hello wor")]
    assert result.served_by == Target("b", "b-model")


async def test_ttft_timeout_falls_back() -> None:
    a = FakeAdapter("a", Script(delay_first_s=2.0))
    b = FakeAdapter("b")
    router, _ = make_router([a, b], [chain("a", "b", timeouts=RouteTimeouts(ttft_s=0.1))])
    result = await router.chat("chat", REQUEST)
    assert result.attempts[0].error_kind == "timeout"
    assert "first token" in (result.attempts[0].error or "")
    assert result.served_by == Target("b", "b-model")
    assert a.open_streams == 0, "the timed-out stream must be closed"


async def test_idle_gap_after_text_breaks_the_stream() -> None:
    a = FakeAdapter("a", Script(pieces=("one", " two"), gap_s=2.0))
    router, _ = make_router([a, FakeAdapter("b")], [chain("a", "b", timeouts=RouteTimeouts(idle_s=0.1))])
    with pytest.raises(StreamBrokenError) as info:
        await router.chat("chat", REQUEST)
    assert info.value.partial == "one"
    assert isinstance(info.value.cause, ProviderTimeoutError) and info.value.cause.phase == "idle"


async def test_deadline_stops_retries_that_would_overrun_it() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=RateLimitedError("wait", retry_after=5.0)))
    router, clock = make_router([a], [chain("a", retries=3, timeouts=RouteTimeouts(total_s=4.0))])
    with pytest.raises(RouteFailedError) as info:
        await router.chat("chat", REQUEST)
    assert clock.sleeps == []
    assert isinstance(info.value.cause, RateLimitedError)


async def test_fallback_aliases_extend_the_plan_and_cycles_stop() -> None:
    routes = [Route("chat", (Target("a", "m"),), fallbacks=("cloud",)),
              Route("cloud", (Target("b", "m"),), fallbacks=("chat",))]
    router, _ = make_router([FakeAdapter("a"), FakeAdapter("b")], routes)
    plan = router.explain("chat")
    assert [(h.provider, h.via) for h in plan] == [("a", "chat"), ("b", "cloud")]


async def test_provider_slash_model_is_a_one_hop_route_and_unknown_targets_fail_fast() -> None:
    router, _ = make_router([FakeAdapter("box")], [])
    result = await router.chat("box/meta-llama/Llama-3.1-8B", REQUEST)
    assert result.served_by == Target("box", "meta-llama/Llama-3.1-8B")
    with pytest.raises(UnknownTargetError):
        router.stream("nope", REQUEST)
    with pytest.raises(UnknownTargetError):
        router.stream("ghost/model", REQUEST)


async def test_cancelling_the_consumer_closes_the_provider_stream() -> None:
    a = FakeAdapter("a", Script(pieces=("x",) * 50, gap_s=0.01))
    router, _ = make_router([a], [chain("a")])
    stream = router.stream("chat", REQUEST)
    iterator = stream.__aiter__()
    await anext(iterator)
    await iterator.aclose()
    assert a.open_streams == 0 and a.closed == 1
    assert stream.attempts[-1].outcome == "cancelled"


async def test_all_hops_failing_reports_every_attempt() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=UnreachableError("refused")))
    b = FakeAdapter("b", Script(pieces=(), error=OverloadedError("529")))
    router, _ = make_router([a, b], [chain("a", "b")])
    with pytest.raises(RouteFailedError) as info:
        await router.chat("chat", REQUEST)
    assert [x.error_kind for x in info.value.attempts] == ["unreachable", "overloaded"]
    assert isinstance(info.value.cause, OverloadedError)


async def test_complete_asks_each_hop_for_a_whole_answer_and_still_falls_back() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=OverloadedError("busy")))
    b = FakeAdapter("b", Script(pieces=("One", " body")))
    router, _ = make_router([a, b], [chain("a", "b")])
    result = await router.complete("chat", REQUEST)
    assert result.text == "One body"
    assert result.served_by == Target("b", "b-model")
    assert [x.outcome for x in result.attempts] == ["error", "ok"]
