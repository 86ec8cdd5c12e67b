"""The router: resolve an alias to a plan of hops and run it with retries, fallbacks, breakers and limits.

It owns the breakers and the limiters. The planner (providers/route_planner.py) reads them to order and skip
hops; each request runs as a RoutedStream (providers/routed_stream.py); everyone else goes through the methods
here: `explain`, `note_health`, `breaker_state`, `breaker_states`, `on_breaker_change`, `in_flight`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from providers.base import Adapter, ChatRequest, Usage
from providers.breaker import BreakerBoard, BreakerListener, BreakerReading
from providers.errors import BadRequestError, ContentFilteredError, ContextTooLongError, ProviderError, RateLimitedError
from providers.limits import LimitPolicy, ProviderLimiter
from providers.reply_bounds import NO_DEFAULT_TIMEOUTS, ReplyBounds
from providers.route_planner import NoSignals, RoutePlanner, RoutingSignals, UnknownTargetError, estimate_tokens
from providers.routed_stream import RoutedStream, RouteFailedError, root_cause
from providers.routing import Attempt, PlannedHop, Route, Target

__all__ = [
    "BackoffPolicy", "HopObserver", "NoSignals", "RouteFailedError", "RoutedStream", "Router", "RoutingSignals",
    "UnknownTargetError", "estimate_tokens",
]

HopObserver = Callable[[Attempt, Usage | None], None]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff with jitter between retries of one hop; Retry-After wins when it is short enough."""

    base_s: float = 0.5
    cap_s: float = 8.0
    max_retry_after_s: float = 10.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Seconds to wait before retry number `attempt` (1-based), or None to move on instead."""
        if retry_after is not None:
            return float(retry_after) if retry_after <= self.max_retry_after_s else None
        ceiling = min(self.cap_s, self.base_s * (2.0 ** (attempt - 1)))
        return ceiling * (0.5 + rng.random() / 2)


class Router:
    """Runs chat requests over plans of hops. The only retry loop in llmdeck: adapters never retry."""

    def __init__(self, adapters: Mapping[str, Adapter], routes: Iterable[Route], *,
                 limits: Mapping[str, LimitPolicy] | None = None, signals: RoutingSignals | None = None,
                 breakers: BreakerBoard | None = None, backoff: BackoffPolicy | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: random.Random | None = None, observer: HopObserver | None = None,
                 bounds: ReplyBounds = NO_DEFAULT_TIMEOUTS) -> None:
        self.adapters = adapters
        self.bounds = bounds
        self.routes = {route.alias: route for route in routes}
        self.signals: RoutingSignals = signals or NoSignals()
        self.clock = clock
        self.sleep = sleep
        self.breakers = breakers or BreakerBoard(clock=clock)
        self.backoff = backoff or BackoffPolicy()
        self.rng = rng or random.Random()
        self.observer = observer
        self.limiters = {name: ProviderLimiter((limits or {}).get(name, LimitPolicy())) for name in adapters}
        self.planner = RoutePlanner(adapters, self.routes, signals=self.signals, limiters=self.limiters,
                                    breakers=self.breakers, bounds=bounds, rng=self.rng)

    # --- planning -------------------------------------------------------------------------------------

    def resolve(self, target: str) -> Route:
        """An alias, or `PROVIDER/MODEL` as a one-hop route."""
        return self.planner.resolve(target)

    def explain(self, target: str, request: ChatRequest | None = None) -> list[PlannedHop]:
        """The plan right now, without sending anything (backs `route explain` and the routes pane)."""
        return self.planner.explain(target, self.clock(), request)

    def in_flight(self, provider: str | None = None) -> int:
        """Requests under way at `provider`, or at every provider."""
        if provider is not None:
            return self.planner.in_flight(provider)
        return sum(limiter.in_flight for limiter in self.limiters.values())

    # --- breakers ---------------------------------------------------------------------------------------

    def note_health(self, provider: str, status: str, detail: str = "") -> None:
        """A health probe's verdict: `down` opens the provider's breakers, `up` half-opens open ones at once."""
        self.breakers.note_health(provider, status, detail, self.clock())

    def breaker_state(self, provider: str) -> BreakerReading:
        """The worst breaker over the provider's models (`closed` when none was used yet)."""
        return self.breakers.worst(provider, self.clock())

    def breaker_states(self, provider: str) -> dict[str, BreakerReading]:
        """Each of the provider's breakers by model, in the order first used."""
        now = self.clock()
        return {model: breaker.reading(now) for model, breaker in self.breakers.of_provider(provider).items()}

    def on_breaker_change(self, listener: BreakerListener) -> Callable[[], None]:
        """Call `listener` with every breaker's state changes (open, half-open, closed, and why), on the event
        loop; returns an unsubscribe function."""
        return self.breakers.subscribe(listener)

    def hop_succeeded(self, target: Target) -> None:
        self.breakers.get(target.provider, target.model).record_success(self.clock())

    def hop_failed(self, target: Target, error: ProviderError) -> None:
        """Judge a failed try: errors about the request itself leave the breaker alone (they count as a success);
        a rate limit with Retry-After keeps it open until then."""
        breaker = self.breakers.get(target.provider, target.model)
        now = self.clock()
        root = root_cause(error)
        if _neutral_for_breaker(root):
            breaker.record_success(now)
            return
        breaker.record_failure(now, root.kind)
        retry_after = getattr(root, "retry_after", None)
        if isinstance(root, RateLimitedError) and retry_after:
            breaker.open_until(now, now + retry_after, f"rate-limited, Retry-After {retry_after:g}s")

    # --- running --------------------------------------------------------------------------------------

    def stream(self, target: str, request: ChatRequest) -> RoutedStream:
        """Stream an answer over the plan of `target`. Raises UnknownTargetError at once for a bad target."""
        return RoutedStream(self, self.resolve(target), request)

    async def chat(self, target: str, request: ChatRequest) -> RoutedStream:
        """Stream to completion; the returned stream holds text, usage, attempts and served_by."""
        routed = self.stream(target, request)
        async for _ in routed:
            pass
        return routed

    async def complete(self, target: str, request: ChatRequest) -> RoutedStream:
        """Like `chat`, but each hop is asked for a non-streaming answer (one body, no SSE)."""
        routed = RoutedStream(self, self.resolve(target), request, streaming=False)
        async for _ in routed:
            pass
        return routed


def _neutral_for_breaker(error: ProviderError) -> bool:
    """Errors that say nothing about the provider's health."""
    return isinstance(error, BadRequestError | ContentFilteredError | ContextTooLongError)
