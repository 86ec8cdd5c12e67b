"""Circuit breakers per provider+model: closed → open → half-open → closed. The Router owns the board; others
read a breaker through `BreakerReading`, feed it through the Router's methods, and hear of its moves through
`BreakerBoard.subscribe` (the Deck's event journal does)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, NamedTuple

BreakerState = Literal["closed", "open", "half_open"]
BREAKER_RANK: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}
HEALTH_REASON_CHARS = 120


class BreakerReading(NamedTuple):
    """A breaker as seen at one moment: its state, seconds until an open one half-opens (0 otherwise), and why it
    opened (kept while half-open; empty once closed)."""

    state: BreakerState
    seconds_left: float
    reason: str


CLOSED = BreakerReading("closed", 0.0, "")


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """A breaker moved from `was` to `now`, and why."""

    provider: str
    model: str
    was: BreakerState
    now: BreakerState
    why: str


BreakerMoved = Callable[[BreakerState, BreakerState, str], None]
"""Told (was, now, why) each time one breaker changes state."""
BreakerListener = Callable[[BreakerChange], None]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long.

    Opens after `consecutive_failures` failures in a row, or when at least `min_requests` of the last
    `window_s` seconds saw an error rate of `error_rate` or more. After `cooldown_s` it lets one probe through.
    """

    consecutive_failures: int = 5
    error_rate: float = 0.5
    min_requests: int = 10
    window_s: float = 60.0
    cooldown_s: float = 30.0


@dataclass
class CircuitBreaker:
    """One breaker. Time comes from the caller's clock so tests can drive it exactly."""

    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    state: BreakerState = "closed"
    opened_until: float = 0.0
    reason: str = ""
    consecutive: int = 0
    probe_in_flight: bool = False
    outcomes: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=256))
    on_change: BreakerMoved | None = field(default=None, repr=False, compare=False)

    def _move(self, state: BreakerState, why: str) -> None:
        was, self.state = self.state, state
        if was != state and self.on_change is not None:
            self.on_change(was, state, why)

    def current(self, now: float) -> BreakerState:
        """The state at `now`: an open breaker whose cooldown has passed is half-open."""
        if self.state == "open" and now >= self.opened_until:
            self.probe_in_flight = False
            self._move("half_open", "cooldown over, the next request probes")
        return self.state

    def allow(self, now: float) -> bool:
        """May a request go through now? In half-open only one probe at a time."""
        state = self.current(now)
        if state == "closed":
            return True
        if state == "half_open" and not self.probe_in_flight:
            self.probe_in_flight = True
            return True
        return False

    def record_success(self, now: float) -> None:
        self.outcomes.append((now, True))
        self.consecutive = 0
        if self.state != "closed":
            why = "the probe request succeeded" if self.state == "half_open" else "a request succeeded"
            self.reason = ""
            self._move("closed", why)
        self.probe_in_flight = False

    def record_failure(self, now: float, reason: str) -> None:
        self.outcomes.append((now, False))
        self.consecutive += 1
        if self.state == "half_open":
            self._open(now + self.policy.cooldown_s, f"probe failed: {reason}")
            return
        if self.consecutive >= self.policy.consecutive_failures:
            self._open(now + self.policy.cooldown_s, f"{self.consecutive} failures in a row: {reason}")
            return
        recent = [ok for ts, ok in self.outcomes if ts >= now - self.policy.window_s]
        if len(recent) >= self.policy.min_requests:
            rate = recent.count(False) / len(recent)
            if rate >= self.policy.error_rate:
                self._open(now + self.policy.cooldown_s, f"error rate {rate:.0%} over {len(recent)} requests")

    def reading(self, now: float) -> BreakerReading:
        state = self.current(now)
        left = max(0.0, self.opened_until - now) if state == "open" else 0.0
        return BreakerReading(state, left, self.reason)

    def end_cooldown(self, now: float, why: str = "its provider is up again") -> None:
        """An open breaker half-opens at once: the next request probes instead of waiting out the cooldown."""
        if self.current(now) == "open":
            self.opened_until = now
            self.probe_in_flight = False
            self._move("half_open", why)

    def open_until(self, now: float, until: float, reason: str) -> None:
        """Open until a known time (a rate limit's Retry-After)."""
        self._open(max(until, self.opened_until if self.state == "open" else 0.0), reason)

    def _open(self, until: float, reason: str) -> None:
        self.opened_until = until
        self.reason = reason
        self.probe_in_flight = False
        self._move("open", reason)


class BreakerBoard:
    """All breakers of a deck, keyed by (provider, model), created on first use."""

    def __init__(self, policy: BreakerPolicy | None = None, clock: Callable[[], float] | None = None) -> None:
        import time

        self.policy = policy or BreakerPolicy()
        self.clock = clock or time.monotonic
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._listeners: list[BreakerListener] = []

    def get(self, provider: str, model: str) -> CircuitBreaker:
        key = (provider, model)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(self.policy,
                                                           on_change=partial(self._moved, provider, model))
        return breaker

    def subscribe(self, listener: BreakerListener) -> Callable[[], None]:
        """Call `listener` with every state change of every breaker; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _moved(self, provider: str, model: str, was: BreakerState, now: BreakerState, why: str) -> None:
        change = BreakerChange(provider, model, was, now, why)
        for listener in list(self._listeners):
            listener(change)

    def items(self) -> list[tuple[tuple[str, str], CircuitBreaker]]:
        return list(self._breakers.items())

    def of_provider(self, provider: str) -> dict[str, CircuitBreaker]:
        """The provider's breakers by model, in the order they were first used."""
        return {model: breaker for (name, model), breaker in self._breakers.items() if name == provider}

    def note_health(self, provider: str, status: str, detail: str, now: float) -> None:
        """A provider that went down opens its breakers (a request would only time out); one that came back up
        half-opens them at once. Only breakers already used are touched: a model never tried has none."""
        for breaker in self.of_provider(provider).values():
            if status == "down":
                breaker.open_until(now, now + breaker.policy.cooldown_s,
                                   f"health probe: {detail}"[:HEALTH_REASON_CHARS])
            elif status == "up":
                breaker.end_cooldown(now, "health probe: up again")

    def worst(self, provider: str, now: float) -> BreakerReading:
        """The worst breaker over the provider's models; of two open ones, the one open longer."""
        worst = CLOSED
        for breaker in self.of_provider(provider).values():
            reading = breaker.reading(now)
            if BREAKER_RANK[reading.state] > BREAKER_RANK[worst.state] or (
                    reading.state == worst.state == "open" and reading.seconds_left > worst.seconds_left):
                worst = reading
        return worst
