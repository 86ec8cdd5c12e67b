"""Value types of routing: routes as the router sees them, planned hops and attempt records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Strategy = Literal["ordered", "weighted", "lowest-latency", "lowest-cost", "least-busy"]
HopState = Literal["ready", "skipped"]
Outcome = Literal["ok", "error", "skipped", "broken", "cancelled"]


@dataclass(frozen=True, slots=True)
class Target:
    provider: str
    model: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class RouteTimeouts:
    """Seconds; None means no limit from the route (the provider's own timeout still applies)."""

    ttft_s: float | None = None
    idle_s: float | None = None
    total_s: float | None = None


@dataclass(frozen=True, slots=True)
class Route:
    alias: str
    targets: tuple[Target, ...]
    strategy: Strategy = "ordered"
    fallbacks: tuple[str, ...] = ()
    retries: int = 0
    timeouts: RouteTimeouts = field(default_factory=RouteTimeouts)
    continue_on_failover: bool = False


@dataclass(frozen=True, slots=True)
class PlannedHop:
    """One hop of a plan: what would be tried, in order, and whether it is ready now."""

    provider: str
    model: str
    via: str
    state: HopState
    reason: str


@dataclass(slots=True)
class Attempt:
    """What happened at one hop of one request: why it was chosen or skipped, and how it went."""

    provider: str
    model: str
    via: str
    outcome: Outcome
    reason: str = ""
    error_kind: str | None = None
    error: str | None = None
    tries: int = 0
    ms: float = 0.0
    ttft_ms: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider, "model": self.model, "via": self.via, "outcome": self.outcome,
            "reason": self.reason, "error": self.error_kind, "message": self.error, "tries": self.tries,
            "ms": round(self.ms, 1), "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 1),
        }
