"""One routed request: try the plan's hops in order with retries and timers, and keep what happened.

The Router makes these and owns everything they use: the planner says which hops and why one is skipped, the
limiters count the request, and `hop_succeeded` / `hop_failed` feed the breakers. A RoutedStream holds the
outcome (text, usage, attempts, served_by) once iterated to the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from providers.base import Adapter, ChatChunk, ChatRequest, ServerTimings, Usage, closing_stream
from providers.errors import ContextTooLongError, ProviderError, ProviderTimeoutError, StreamBrokenError, TimeoutPhase
from providers.reply_bounds import answer_too_long, as_provider_error
from providers.route_planner import estimate_tokens
from providers.routing import Attempt, Route, RouteTimeouts, Target
from providers.usage_count import count_usage

if TYPE_CHECKING:  # the Router makes RoutedStreams; only the type is needed here
    from providers.router import Router


class RouteFailedError(ProviderError):
    """No hop served the request. `cause` is the last error; `attempts` says what happened at each hop."""

    fallback = False

    def __init__(self, message: str, *, attempts: list[Attempt], cause: ProviderError | None) -> None:
        super().__init__(message, status=cause.status if cause else None)
        self.attempts = attempts
        self.cause = cause
        self.kind = cause.kind if cause else "no_route"  # type: ignore[misc]


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
            for hop in router.planner.hops(route):
                target = hop.target
                reason = router.planner.skip_reason(hop, router.clock(), tokens, context_floor, probe=True)
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
                        attempt.error_kind = root_cause(error).kind
                        attempt.error = str(error)
                        router.hop_failed(target, error)
                    except BaseException:
                        attempt.outcome = "cancelled"
                        raise
                    finally:
                        now = router.clock() if ended is None else ended  # the hop's time leaves out counting
                        attempt.ms = (now - began) * 1000.0
                        limiter.finish(now, usage.completion_tokens if usage else 0)
                        self._record(attempt, usage)
                    if error is None:
                        router.hop_succeeded(target)
                        self.served_by = target
                        return
                    last_error = error
                    if self._parts and not route.continue_on_failover:
                        raise StreamBrokenError(f"stream broke at {target.provider}: {error.message}",
                                                partial=self.text, cause=root_cause(error), provider=target.provider)
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


def root_cause(error: ProviderError) -> ProviderError:
    """The error under a broken stream: what the provider actually said."""
    return error.cause if isinstance(error, StreamBrokenError) and error.cause is not None else error
