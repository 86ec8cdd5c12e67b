"""Planning a route: resolve a target to hops in order, and say why a hop is skipped right now.

The planner only reads: the routes, the adapters' capabilities, the deck's signals, the limiters and the
breakers it is given. It sends nothing and changes no state except that a half-open breaker lets one probe
through when a running request asks (`probe=True`). The Router owns it, and owns what it reads.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from providers.base import Adapter, ChatRequest
from providers.breaker import BreakerBoard
from providers.display import count, number
from providers.limits import ProviderLimiter
from providers.reply_bounds import ReplyBounds
from providers.routing import PlannedHop, Route, Target


class UnknownTargetError(LookupError):
    """Neither an alias nor a PROVIDER/MODEL of a configured provider."""


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


@dataclass(frozen=True, slots=True)
class Hop:
    """One place to try: a target, the alias that led to it, and how many retries that alias allows."""

    target: Target
    via: str
    retries: int


def estimate_tokens(request: ChatRequest) -> int:
    """A cheap upper-ish estimate of the tokens a request needs: ~4 characters a token, plus max_tokens."""
    chars = sum(len(message.content) for message in request.messages) + len(request.assistant_prefix)
    return chars // 4 + (request.max_tokens or 0)


class RoutePlanner:
    """Hops in order and skip reasons, from state the Router owns and hands in."""

    def __init__(self, adapters: Mapping[str, Adapter], routes: Mapping[str, Route], *, signals: RoutingSignals,
                 limiters: Mapping[str, ProviderLimiter], breakers: BreakerBoard, bounds: ReplyBounds,
                 rng: random.Random) -> None:
        self.adapters = adapters
        self.routes = routes
        self.signals = signals
        self.limiters = limiters
        self.breakers = breakers
        self.bounds = bounds
        self.rng = rng

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

    def hops(self, route: Route) -> list[Hop]:
        """Every hop of `route` in the order to try, its fallbacks' hops after its own, each alias once."""
        hops: list[Hop] = []
        seen: set[str] = set()

        def expand(current: Route) -> None:
            if current.alias in seen:
                return
            seen.add(current.alias)
            hops.extend(Hop(t, current.alias, current.retries) for t in self._order(current))
            for alias in current.fallbacks:
                if alias in self.routes:
                    expand(self.routes[alias])
                elif alias not in seen:
                    provider, sep, model = alias.partition("/")
                    if sep and provider in self.adapters:
                        seen.add(alias)
                        hops.append(Hop(Target(provider, model), current.alias, current.retries))

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
            return sorted(targets, key=lambda t: self.in_flight(t.provider))
        return targets

    def in_flight(self, provider: str) -> int:
        limiter = self.limiters.get(provider)
        return limiter.in_flight if limiter else 0

    def skip_reason(self, hop: Hop, now: float, tokens: int, context_floor: int | None, *, probe: bool) -> str | None:
        """Why `hop` may not be tried now, or None when it may. `probe=True` (a request about to be sent) takes
        the half-open breaker's one probe; `probe=False` (a plan shown) only looks."""
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
            return f"context window {number(window)} not larger than the {number(context_floor)} that was too small"
        if window is not None and tokens > window:
            return f"context window {number(window)} too small for ~{count(tokens, 'token')}"
        return None

    def explain(self, target: str, now: float, request: ChatRequest | None = None) -> list[PlannedHop]:
        """The plan at `now`, without sending anything (backs `route explain` and the routes pane)."""
        route = self.resolve(target)
        tokens = estimate_tokens(request) if request else 0
        plan: list[PlannedHop] = []
        serving_found = False
        for hop in self.hops(route):
            reason = self.skip_reason(hop, now, tokens, None, probe=False)
            if reason is None:
                reason = "ready" if serving_found else "would serve now"
                serving_found = True
            plan.append(PlannedHop(hop.target.provider, hop.target.model, hop.via,
                                   "skipped" if reason not in ("ready", "would serve now") else "ready", reason))
        return plan


def _unknown_last(value: float | None) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, value)
