"""What the Router lets others do to its breakers: health verdicts in, breaker read-outs and load out."""

from __future__ import annotations

import random

from providers.base import ChatRequest, Message
from providers.breaker import BreakerPolicy
from providers.errors import ServerError
from providers.router import Router
from providers.routing import Route, Target
from tests.providers.router_fakes import FakeAdapter, FakeClock, Script

REQUEST = ChatRequest(model="", messages=(Message("user", "hi"),))
ROUTES = [Route(alias="chat", targets=(Target("a", "a-1"), Target("a", "a-2"), Target("b", "b-1")))]


def make_router(*adapters: FakeAdapter) -> tuple[Router, FakeClock]:
    clock = FakeClock()
    router = Router({a.name: a for a in adapters}, ROUTES, clock=clock, sleep=clock.sleep, rng=random.Random(7))
    router.breakers.policy = BreakerPolicy(consecutive_failures=1, cooldown_s=30)
    return router, clock


async def test_down_opens_the_providers_used_breakers_with_the_probes_detail() -> None:
    router, _ = make_router(FakeAdapter("a"), FakeAdapter("b"))
    await router.chat("chat", REQUEST)  # a/a-1 served: only its breaker exists
    router.note_health("a", "down", "unreachable: connection refused " + "x" * 200)
    state, seconds_left, reason = router.breaker_state("a")
    assert state == "open" and seconds_left == 30
    assert reason.startswith("health probe: unreachable: connection refused") and len(reason) == 120
    assert list(router.breaker_states("a")) == ["a-1"], "a model never tried gets no breaker"
    assert router.breaker_state("b").state == "closed"
    result = await router.chat("chat", REQUEST)
    assert [(x.model, x.outcome) for x in result.attempts] == [("a-1", "skipped"), ("a-2", "ok")]
    assert "health probe" in result.attempts[0].reason


async def test_up_half_opens_an_open_breaker_at_once_and_the_next_request_probes_it() -> None:
    a = FakeAdapter("a", Script(pieces=(), error=ServerError("boom")), Script())
    router, _ = make_router(a, FakeAdapter("b"))
    await router.chat("chat", REQUEST)  # a-1 fails once: its breaker opens for 30 s
    assert router.breaker_states("a")["a-1"].state == "open"
    router.note_health("a", "degraded", "slow")
    assert router.breaker_states("a")["a-1"].state == "open", "only up ends the cooldown"
    router.note_health("a", "up")
    assert router.breaker_states("a")["a-1"] == ("half_open", 0.0, "1 failures in a row: server_error")
    result = await router.chat("chat", REQUEST)
    assert result.served_by == Target("a", "a-1")
    assert router.breaker_state("a") == ("closed", 0.0, "")


async def test_up_leaves_a_closed_breaker_closed() -> None:
    router, _ = make_router(FakeAdapter("a"))
    await router.chat("chat", REQUEST)
    router.note_health("a", "up")
    assert router.breaker_states("a") == {"a-1": ("closed", 0.0, "")}


async def test_breaker_state_is_the_worst_over_the_models_with_seconds_left() -> None:
    router, clock = make_router(FakeAdapter("a"), FakeAdapter("b"))
    assert router.breaker_state("a") == ("closed", 0.0, ""), "no breaker used yet reads closed"
    now = clock()
    router.breakers.get("a", "a-1").open_until(now, now + 5, "short")
    router.breakers.get("a", "a-2").open_until(now, now + 40, "long")
    router.breakers.get("a", "a-3")
    assert router.breaker_state("a") == ("open", 40.0, "long")
    clock.advance(10)  # a-1 is half-open now, a-2 still open
    assert router.breaker_state("a") == ("open", 30.0, "long")
    assert router.breaker_states("a") == {"a-1": ("half_open", 0.0, "short"), "a-2": ("open", 30.0, "long"),
                                          "a-3": ("closed", 0.0, "")}
    clock.advance(30)  # both half-open: the worst is half-open, not closed
    assert router.breaker_state("a").state == "half_open"
    assert router.breaker_state("b").state == "closed"


async def test_in_flight_counts_streams_under_way_per_provider_and_in_all() -> None:
    router, _ = make_router(FakeAdapter("a"), FakeAdapter("b"))
    stream = router.stream("chat", REQUEST)
    chunks = stream.__aiter__()
    await anext(chunks)  # the first piece of a-1's answer: the request is under way
    assert (router.in_flight("a"), router.in_flight("b"), router.in_flight()) == (1, 0, 1)
    async for _ in chunks:
        pass
    assert router.in_flight() == 0
