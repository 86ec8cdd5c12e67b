"""What the console asks of the Deck's parts, as Deck methods: the Deck is the console's one door.

The router, the health monitor, the metrics, the spend book and the ledger belong to the Deck; the console
reads them (and asks for a probe) only through these methods, so the parts can change without the screens
knowing. The Deck inherits this class; the parts it reads are set up in `Deck.__init__`.
"""

from __future__ import annotations

from typing import Literal

from providers.base import Adapter, Health
from providers.breaker import BreakerReading
from providers.deck_journal import DeckJournal
from providers.deck_signals import SpendBook
from providers.journal import JournalEntry
from providers.ledger import Ledger
from providers.metrics import RollingMetrics
from providers.monitor import HealthMonitor
from providers.router import Router, UnknownTargetError
from providers.routing import Route

Capability = Literal["chat", "embed", "images", "pull", "delete", "unload", "load", "restart", "metrics", "copy",
                     "switch_checkpoint"]
"""A field of providers.base.Capabilities."""


class DeckReadouts:
    """Read-outs and requests on the Deck's parts, named for what the console wants."""

    adapters: dict[str, Adapter]
    router: Router
    monitor: HealthMonitor
    metrics: RollingMetrics
    spend: SpendBook
    ledger: Ledger | None
    journal: DeckJournal

    # --- routes and load ---------------------------------------------------------------------------------

    def aliases(self) -> list[str]:
        """Every route alias, in config order."""
        return list(self.router.routes)

    def route(self, alias: str) -> Route:
        """The route as configured (its own timeouts, before the `replies` defaults apply)."""
        route = self.router.routes.get(alias)
        if route is None:
            raise UnknownTargetError(f"unknown alias {alias!r}; configured: {', '.join(self.router.routes) or 'none'}")
        return route

    def in_flight(self, provider: str | None = None) -> int:
        """Requests under way at `provider`, or at every provider."""
        return self.router.in_flight(provider)

    def breaker_state(self, provider: str) -> BreakerReading:
        """The provider's worst breaker: state, seconds until it half-opens, and why it opened."""
        return self.router.breaker_state(provider)

    def breaker_states(self, provider: str) -> dict[str, BreakerReading]:
        """The provider's breakers by model (only models a request has gone to have one)."""
        return self.router.breaker_states(provider)

    # --- health ---------------------------------------------------------------------------------------------

    def health_of(self, provider: str) -> Health | None:
        """The provider's last probe, or None before the first one."""
        return self.monitor.snapshots.get(provider)

    def last_health(self) -> dict[str, Health]:
        """The last probe of every provider probed so far."""
        return dict(self.monitor.snapshots)

    def probe_now(self, provider: str | None = None) -> None:
        """Probe `provider` (or every provider) now instead of at its next turn; results come as events."""
        self.monitor.probe_now(provider)

    async def stop_probing(self) -> None:
        """Stop the health monitor's pollers (they never end on their own); `stop()` does it too."""
        await self.monitor.stop()

    # --- money, metrics, history ------------------------------------------------------------------------------

    def spend_today(self) -> float:
        """USD spent today over every provider."""
        return sum(self.spend.day.values())

    def request_stats(self) -> RollingMetrics:
        """The rolling per-provider request metrics, to read (summaries and series); the Deck feeds them."""
        return self.metrics

    def history(self) -> Ledger | None:
        """The open ledger, where requests and chat sessions are kept; None while history is off."""
        return self.ledger

    # --- events ---------------------------------------------------------------------------------------------

    def events(self) -> list[JournalEntry]:
        """The event journal, oldest first (bounded): health changes, failed probes, breaker moves, requests (the
        ledger's from before this run first), model operations and config reloads."""
        return self.journal.entries()

    def latest_event_seq(self) -> int:
        """The newest event's number, 0 before any: compare it to know whether `events()` has anything new."""
        return self.journal.latest_seq

    # --- providers -------------------------------------------------------------------------------------------

    def providers_able(self, capability: Capability | None = None) -> list[str]:
        """Providers llmdeck has an adapter for, in config order; with `capability`, only those whose backend
        can do it."""
        return [name for name, adapter in self.adapters.items()
                if capability is None or getattr(adapter.capabilities, capability)]
