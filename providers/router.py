"""The router: resolve an alias to a plan of hops and run it with retries, fallbacks, breakers and limits."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from providers.base import Adapter, ChatChunk, ChatRequest, ServerTimings, Usage, closing_stream
from providers.breaker import BreakerBoard, CircuitBreaker
from providers.errors import (
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    StreamBrokenError,
    TimeoutPhase,
)
from providers.limits import LimitPolicy, ProviderLimiter
from providers.reply_bounds import NO_DEFAULT_TIMEOUTS, ReplyBounds, answer_too_long, as_provider_error
from providers.routing import Attempt, PlannedHop, Route, RouteTimeouts, Target
from providers.usage_count import count_usage


class UnknownTargetError(LookupError):
    """Neither an alias nor a PROVIDER/MODEL of a configured provider."""


class RouteFailedError(ProviderError):
    """No hop served the request. `cause` is the last error; `attempts` says what happened at each hop."""

    fallback = False

    def __init__(self, message: str, *, attempts: list[Attempt], cause: ProviderError | None) -> None:
        super().__init__(message, status=cause.status if cause else None)
        self.attempts = attempts
        self.cause = cause
        self.kind = cause.kind if cause else "no_route"  # type: ignore[misc]


class RoutingSignals(Protocol):
    """What the router reads from the rest of the deck to choose and skip hops. None = unknown."""

    def latency_ms(self, provider: str, model: str) -> float | None: ...
    def price_per_token(self, provider: str, model: str) -> float | None: ...
    def context_window(self, provider: str, model: str) -> int | None: ...
    def health(self, provider: str) -> str | None: ...
    def over_budget(self, provider: str) -> str | None: ...


class NoSignals:
    """Signals for a router used on its own: nothing is known."""

    def latency_ms(self, provider: str, model: str) -> float | None:
        return None

    def price_per_token(self, provider: str, model: str) -> float | None:
        return None

    def context_window(self, provider: str, model: str) -> int | None:
        return None

    def health(self, provider: str) -> str | None:
        return None

    def over_budget(self, provider: str) -> str | None:
        return None


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


@dataclass(slots=True)
class _Hop:
    target: Target
    via: str
    retries: int


def estimate_tokens(request: ChatRequest) -> int:
    """A cheap upper-ish estimate of the tokens a request needs: ~4 characters a token, plus max_tokens."""
    chars = sum(len(message.content) for message in request.messages) + len(request.assistant_prefix)
    return chars // 4 + (request.max_tokens or 0)


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

    # --- planning -------------------------------------------------------------------------------------

    def resolve(self, target: str) -> Route:
        """An alias, or `PROVIDER/MODEL` as a one-hop route."""
        route = self.routes.get(target)
        if route is not None:
            return replace(route, timeouts=self.bounds.timeouts_for(route.timeouts))
        provider, sep, model = target.partition("/")
        if sep and model and provider in self.adapters:
            return Route(alias=target, targets=(Target(provider, model),), timeouts=self.bounds.timeouts)
        known = ", ".join(sorted(self.routes)) or "none"
        raise UnknownTargetError(f"unknown target {target!r}: not an alias ({known}) nor PROVIDER/MODEL")

    def _hops(self, route: Route) -> list[_Hop]:
        hops: list[_Hop] = []
        seen: set[str] = set()

        def expand(current: Route) -> None:
            if current.alias in seen:
                return
            seen.add(current.alias)
            hops.extend(_Hop(t, current.alias, current.retries) for t in self._order(current))
            for alias in current.fallbacks:
                if alias in self.routes:
                    expand(self.routes[alias])
                elif alias not in seen:
                    provider, sep, model = alias.partition("/")
                    if sep and provider in self.adapters:
                        seen.add(alias)
                        hops.append(_Hop(Target(provider, model), current.alias, current.retries))

        expand(route)
        return hops

    def _order(self, route: Route) -> list[Target]:
        targets = list(route.targets)
        signals = self.signals
        if route.strategy == "weighted":
            keyed = [(self.rng.random() ** (1.0 / max(t.weight, 1e-9)), t) for t in targets]
            return [t for _, t in sorted(keyed, key=lambda pair: -pair[0])]
        if route.strategy == "lowest-latency":
            return sorted(targets, key=lambda t: _unknown_last(signals.latency_ms(t.provider, t.model)))
        if route.strategy == "lowest-cost":
            return sorted(targets, key=lambda t: _unknown_last(signals.price_per_token(t.provider, t.model)))
        if route.strategy == "least-busy":
            return sorted(targets, key=lambda t: self._in_flight(t.provider))
        return targets

    def _in_flight(self, provider: str) -> int:
        limiter = self.limiters.get(provider)
        return limiter.in_flight if limiter else 0

    def _skip_reason(self, hop: _Hop, now: float, tokens: int, context_floor: int | None,
                     *, probe: bool) -> str | None:
        provider, model = hop.target.provider, hop.target.model
        adapter = self.adapters.get(provider)
        if adapter is None:
            return f"provider {provider!r} is not configured"
        if not adapter.capabilities.chat:
            return f"{adapter.kind} cannot chat"
        health = self.signals.health(provider)
        if health in ("down", "unauthorized"):
            return f"unhealthy ({health})"
        breaker = self.breakers.get(provider, model)
        allowed = breaker.allow(now) if probe else breaker.current(now) != "open"
        if not allowed:
            return f"breaker open for {max(0.0, breaker.opened_until - now):.0f}s: {breaker.reason}"
        blocked = self.limiters[provider].blocked(now, tokens)
        if blocked is not None:
            reason, until = blocked
            return f"rate-limited ({reason}) for {max(0.0, until - now):.0f}s"
        budget = self.signals.over_budget(provider)
        if budget:
            return f"over budget: {budget}"
        window = self.signals.context_window(provider, model)
        if window is not None and context_floor is not None and window <= context_floor:
            return f"context window {window} not larger than the {context_floor} that was too small"
        if window is not None and tokens > window:
            return f"context window {window} too small for ~{tokens} tokens"
        return None

    def explain(self, target: str, request: ChatRequest | None = None) -> list[PlannedHop]:
        """The plan right now, without sending anything (backs `route explain` and the routes pane)."""
        route = self.resolve(target)
        now = self.clock()
        tokens = estimate_tokens(request) if request else 0
        plan: list[PlannedHop] = []
        serving_found = False
        for hop in self._hops(route):
            reason = self._skip_reason(hop, now, tokens, None, probe=False)
            if reason is None:
                reason = "ready" if serving_found else "would serve now"
                serving_found = True
            plan.append(PlannedHop(hop.target.provider, hop.target.model, hop.via,
                                   "skipped" if reason not in ("ready", "would serve now") else "ready", reason))
        return plan

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


def _unknown_last(value: float | None) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, value)


@dataclass
class RoutedStream:
    """One routed request: iterate it for chunks; afterwards it holds the whole outcome."""

    router: Router
    route: Route
    request: ChatRequest
    attempts: list[Attempt] = field(default_factory=list)
    served_by: Target | None = None
    switches: list[int] = field(default_factory=list)
    usage: Usage | None = None
    timings: ServerTimings | None = None
    finish_reason: str | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    streaming: bool = True
    count_ms: float = 0.0
    """Time spent counting usage the server did not send; left out of total_ms, so it never slows tokens/s."""
    _parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self._run()

    async def _run(self) -> AsyncIterator[ChatChunk]:
        router, route = self.router, self.route
        started = router.clock()
        deadline = started + route.timeouts.total_s if route.timeouts.total_s else None
        tokens = estimate_tokens(self.request)
        context_floor: int | None = None
        last_error: ProviderError | None = None
        max_chars, chars = router.bounds.max_answer_chars, 0
        try:
            for hop in router._hops(route):
                target = hop.target
                reason = router._skip_reason(hop, router.clock(), tokens, context_floor, probe=True)
                if reason is not None:
                    self._record(Attempt(target.provider, target.model, hop.via, "skipped", reason=reason), None)
                    continue
                tries = 0
                while True:
                    tries += 1
                    # One try at one hop, inline rather than a generator of its own: this loop runs per token.
                    error: ProviderError | None = None
                    usage: Usage | None = None
                    request = replace(self.request, model=target.model,
                                      assistant_prefix=self.text or self.request.assistant_prefix)
                    attempt = Attempt(target.provider, target.model, hop.via, "ok", reason="chosen", tries=tries)
                    limiter = router.limiters[target.provider]
                    began = router.clock()
                    ended: float | None = None
                    hop_starts = len(self._parts)
                    limiter.start(began, estimate_tokens(request))
                    try:
                        source = self._source(target, request, deadline)
                        async with closing_stream(source):
                            async for chunk in source:
                                if chunk.usage is not None:
                                    usage = self.usage = chunk.usage
                                if chunk.timings is not None:
                                    self.timings = chunk.timings
                                if chunk.finish_reason:
                                    self.finish_reason = chunk.finish_reason
                                if chunk.text:
                                    chars += len(chunk.text)
                                    if chars > max_chars:
                                        raise answer_too_long(max_chars, target.provider)
                                    if attempt.ttft_ms is None:
                                        attempt.ttft_ms = (router.clock() - began) * 1000.0
                                        if self.ttft_ms is None:
                                            self.ttft_ms = attempt.ttft_ms
                                    self._parts.append(chunk.text)
                                yield chunk
                        if usage is None:  # served without usage: counted now, after the whole text was given
                            ended = router.clock()
                            usage = self.usage = await count_usage(
                                router.adapters[target.provider], request, "".join(self._parts[hop_starts:]),
                                left_s=None if deadline is None else deadline - ended)
                            self.count_ms = (router.clock() - ended) * 1000.0
                    except Exception as exc:  # the one boundary: whatever an adapter raised is a ProviderError here
                        error = as_provider_error(exc, target.provider)
                        attempt.outcome = "broken" if isinstance(error, StreamBrokenError) else "error"
                        attempt.error_kind = _root(error).kind
                        attempt.error = str(error)
                        self._judge(router.breakers.get(target.provider, target.model), error, router.clock())
                    except BaseException:
                        attempt.outcome = "cancelled"
                        raise
                    finally:
                        now = router.clock() if ended is None else ended  # the hop's time leaves out counting
                        attempt.ms = (now - began) * 1000.0
                        limiter.finish(now, usage.completion_tokens if usage else 0)
                        self._record(attempt, usage)
                    if error is None:
                        router.breakers.get(target.provider, target.model).record_success(router.clock())
                        self.served_by = target
                        return
                    last_error = error
                    if self._parts and not route.continue_on_failover:
                        raise StreamBrokenError(f"stream broke at {target.provider}: {error.message}",
                                                partial=self.text, cause=_root(error), provider=target.provider)
                    if not error.fallback:
                        raise RouteFailedError(f"{error.kind} at {target.provider}: not tried elsewhere",
                                               attempts=self.attempts, cause=error)
                    if isinstance(error, ContextTooLongError):
                        window = error.n_ctx or router.signals.context_window(target.provider, target.model)
                        if window:
                            context_floor = max(context_floor or 0, window)
                        break
                    if self._parts:
                        self.switches.append(len(self.text))
                        break  # continue_on_failover: a hop that already spoke is not retried; the next continues
                    if not error.retryable or tries > hop.retries:
                        break
                    delay = router.backoff.delay(tries, getattr(error, "retry_after", None), router.rng)
                    if delay is None or (deadline is not None and router.clock() + delay >= deadline):
                        break
                    await router.sleep(delay)
            raise RouteFailedError(
                f"all hops of {route.alias!r} failed" + (f"; last: {last_error}" if last_error else ""),
                attempts=self.attempts, cause=last_error,
            )
        finally:
            self.total_ms = (router.clock() - started) * 1000.0 - self.count_ms

    def _record(self, attempt: Attempt, usage: Usage | None) -> None:
        self.attempts.append(attempt)
        if self.router.observer is not None:
            self.router.observer(attempt, usage)

    def _source(self, target: Target, request: ChatRequest, deadline: float | None) -> AsyncIterator[ChatChunk]:
        """The adapter's chunks for one try, under the route's timers when it has any."""
        router = self.router
        adapter = router.adapters[target.provider]
        source = adapter.chat_stream(request) if self.streaming else _whole(adapter, request)
        timeouts = self.route.timeouts
        if timeouts.ttft_s is None and timeouts.idle_s is None and deadline is None:
            return source  # no timers: no relay layer
        return _with_timeouts(source, timeouts, deadline, router.clock)

    def _judge(self, breaker: CircuitBreaker, error: ProviderError, now: float) -> None:
        root = _root(error)
        if _neutral_for_breaker(root):
            breaker.record_success(now)
            return
        breaker.record_failure(now, root.kind)
        retry_after = getattr(root, "retry_after", None)
        if isinstance(root, RateLimitedError) and retry_after:
            breaker.open_until(now, now + retry_after, f"rate-limited, Retry-After {retry_after:g}s")


async def _whole(adapter: Adapter, request: ChatRequest) -> AsyncIterator[ChatChunk]:
    """A non-streaming answer as a one-chunk stream, so the same hop logic serves both."""
    result = await adapter.chat(request)
    yield ChatChunk(text=result.text, finish_reason=result.finish_reason, usage=result.usage, timings=result.timings)


async def _with_timeouts(stream: AsyncIterator[ChatChunk], timeouts: RouteTimeouts, deadline: float | None,
                         clock: Callable[[], float]) -> AsyncIterator[ChatChunk]:
    """Relay a stream under the TTFT, idle-gap and total deadlines; the timer runs only while waiting."""
    if timeouts.ttft_s is None and timeouts.idle_s is None and deadline is None:
        async with closing_stream(stream):
            async for chunk in stream:
                yield chunk
        return
    first = True
    async with closing_stream(stream):
        iterator = stream.__aiter__()
        while True:
            gap = timeouts.ttft_s if first else timeouts.idle_s
            phase: TimeoutPhase = "ttft" if first else "idle"
            remaining = None if deadline is None else deadline - clock()
            if remaining is not None and (gap is None or remaining < gap):
                gap, phase = remaining, "total"
            try:
                async with asyncio.timeout(None if gap is None else max(0.0, gap)):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise ProviderTimeoutError(f"no {'first token' if phase == 'ttft' else 'chunk'} within {gap:.2f}s"
                                           if phase != "total" else "route deadline passed", phase=phase) from None
            if chunk.text:
                first = False
            yield chunk


def _root(error: ProviderError) -> ProviderError:
    return error.cause if isinstance(error, StreamBrokenError) and error.cause is not None else error


def _neutral_for_breaker(error: ProviderError) -> bool:
    """Errors that say nothing about the provider's health."""
    return isinstance(error, BadRequestError | ContentFilteredError | ContextTooLongError)
