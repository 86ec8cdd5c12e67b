"""Client-side limits per provider: requests and tokens per minute, and concurrent requests."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None


@dataclass
class ProviderLimiter:
    """Sliding one-minute windows; `blocked` says why and until when a request may not start."""

    policy: LimitPolicy
    in_flight: int = 0
    _requests: deque[float] = field(default_factory=deque)
    _tokens: deque[tuple[float, int]] = field(default_factory=deque)

    def _trim(self, now: float) -> None:
        horizon = now - WINDOW_S
        while self._requests and self._requests[0] <= horizon:
            self._requests.popleft()
        while self._tokens and self._tokens[0][0] <= horizon:
            self._tokens.popleft()

    def blocked(self, now: float, tokens: int = 0) -> tuple[str, float] | None:
        """(reason, until) when a request of `tokens` may not start now, else None."""
        policy = self.policy
        if policy.max_concurrency is not None and self.in_flight >= policy.max_concurrency:
            return f"at max concurrency ({policy.max_concurrency})", now
        self._trim(now)
        if policy.rpm is not None and len(self._requests) >= policy.rpm:
            return f"client rpm limit {policy.rpm}", self._requests[0] + WINDOW_S
        if policy.tpm is not None:
            used = sum(count for _, count in self._tokens)
            if used + tokens > policy.tpm and self._tokens:
                return f"client tpm limit {policy.tpm}", self._tokens[0][0] + WINDOW_S
        return None

    def start(self, now: float, tokens: int = 0) -> None:
        self.in_flight += 1
        if self.policy.rpm is not None:
            self._requests.append(now)
        if self.policy.tpm is not None and tokens:
            self._tokens.append((now, tokens))

    def finish(self, now: float, extra_tokens: int = 0) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        if self.policy.tpm is not None and extra_tokens > 0:
            self._tokens.append((now, extra_tokens))
