"""The deck's answers to the router's questions: latency, price, context window, health and budgets."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from providers.pricing import PriceTable


@dataclass(frozen=True, slots=True)
class Budget:
    provider: str
    usd_per_day: float | None = None
    usd_per_month: float | None = None


@dataclass
class SpendBook:
    """Spend per provider today and this month, kept in memory and seeded from the ledger at start."""

    budgets: Mapping[str, Budget]
    day: dict[str, float] = field(default_factory=dict)
    month: dict[str, float] = field(default_factory=dict)
    _day_key: str = ""
    _month_key: str = ""

    def _roll(self, now: datetime) -> None:
        day_key, month_key = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
        if day_key != self._day_key:
            self.day.clear()
            self._day_key = day_key
        if month_key != self._month_key:
            self.month.clear()
            self._month_key = month_key

    def add(self, provider: str, usd: float, now: datetime | None = None) -> None:
        if not math.isfinite(usd) or usd < 0:
            return  # spend only grows: no figure may pay a budget back or poison it with inf/nan
        self._roll(now or datetime.now().astimezone())
        self.day[provider] = self.day.get(provider, 0.0) + usd
        self.month[provider] = self.month.get(provider, 0.0) + usd

    def seed(self, day: Mapping[str, float], month: Mapping[str, float], now: datetime | None = None) -> None:
        self._roll(now or datetime.now().astimezone())
        self.day.update(day)
        self.month.update(month)

    def over_budget(self, provider: str, now: datetime | None = None) -> str | None:
        budget = self.budgets.get(provider)
        if budget is None:
            return None
        self._roll(now or datetime.now().astimezone())
        spent_day, spent_month = self.day.get(provider, 0.0), self.month.get(provider, 0.0)
        if budget.usd_per_day is not None and spent_day >= budget.usd_per_day:
            return f"spent ${spent_day:.2f} of ${budget.usd_per_day:.2f} today"
        if budget.usd_per_month is not None and spent_month >= budget.usd_per_month:
            return f"spent ${spent_month:.2f} of ${budget.usd_per_month:.2f} this month"
        return None


@dataclass
class DeckSignals:
    """Implements the router's RoutingSignals from the deck's live state."""

    kinds: Mapping[str, str]
    prices: PriceTable
    spend: SpendBook
    health_of: Callable[[str], str | None]
    latency_of: Callable[[str, str], float | None]
    context_windows: dict[tuple[str, str], int] = field(default_factory=dict)

    def latency_ms(self, provider: str, model: str) -> float | None:
        return self.latency_of(provider, model)

    def price_per_token(self, provider: str, model: str) -> float | None:
        price = self.prices.price_for(self.kinds.get(provider, ""), model, provider=provider)
        if price is None:
            return None
        return price.input_usd_per_token + price.output_usd_per_token

    def context_window(self, provider: str, model: str) -> int | None:
        known = self.context_windows.get((provider, model))
        if known is not None:
            return known
        return self.prices.context_window(self.kinds.get(provider, ""), model, provider=provider)

    def health(self, provider: str) -> str | None:
        return self.health_of(provider)

    def over_budget(self, provider: str) -> str | None:
        return self.spend.over_budget(provider)
