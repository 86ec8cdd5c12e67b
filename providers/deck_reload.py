"""What a config reload changes: the providers and routes added, removed or replaced, as `Deck.reload` applies them.

A provider whose entry changed in any field is replaced whole (a new adapter, limiter and health schedule): a
changed URL, key or limit leaves nothing of the old one worth keeping. An unchanged provider keeps all of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from config.schema import DeckConfig

LIVE_SECTIONS = ("providers", "routes", "budgets", "prices", "replies")
"""The config sections a reload applies to the running deck; the others (`ui`, `hosts`) are read at start only."""


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """The difference between the running config and a new one, by name, in the new file's order (removed ones
    in the old file's order)."""

    providers_added: tuple[str, ...] = ()
    providers_removed: tuple[str, ...] = ()
    providers_replaced: tuple[str, ...] = ()
    routes_added: tuple[str, ...] = ()
    routes_removed: tuple[str, ...] = ()
    routes_changed: tuple[str, ...] = ()
    other_live: tuple[str, ...] = ()
    """Other sections applied at once that changed: budgets, prices, replies."""
    need_restart: tuple[str, ...] = ()
    """Sections that changed but take effect only when llmdeck starts again (ui, hosts)."""

    @property
    def providers_renewed(self) -> tuple[str, ...]:
        """Providers that start afresh: the added and the replaced."""
        return self.providers_added + self.providers_replaced

    def describe(self) -> str:
        """One line for a person: `providers: +lab-2 −old ~box; routes: ~chat`, or that nothing changed."""
        parts = []
        providers = _signed(self.providers_added, self.providers_removed, self.providers_replaced)
        if providers:
            parts.append(f"providers: {providers}")
        routes = _signed(self.routes_added, self.routes_removed, self.routes_changed)
        if routes:
            parts.append(f"routes: {routes}")
        parts += self.other_live
        text = "; ".join(parts) or "nothing changed"
        if self.need_restart:
            text += f" ({', '.join(self.need_restart)} take effect at the next start)"
        return text


    def lines(self) -> list[str]:
        """One line per kind of change, for a record: `providers added: lab-2`, `routes changed: chat`, …"""
        named = [("providers added", self.providers_added), ("providers removed", self.providers_removed),
                 ("providers replaced", self.providers_replaced), ("routes added", self.routes_added),
                 ("routes removed", self.routes_removed), ("routes changed", self.routes_changed)]
        return ([f"{what}: {', '.join(names)}" for what, names in named if names]
                + [f"{section} changed" for section in self.other_live]
                + [f"{section} changed, applied at the next start" for section in self.need_restart])


def _signed(added: Iterable[str], removed: Iterable[str], changed: Iterable[str]) -> str:
    return " ".join([*(f"+{n}" for n in added), *(f"−{n}" for n in removed), *(f"~{n}" for n in changed)])


def config_change(old: DeckConfig, new: DeckConfig) -> ConfigChange:
    """Compare two validated configs section by section."""
    old_providers = {p.name: p for p in old.providers}
    new_providers = {p.name: p for p in new.providers}
    old_routes = {r.alias: r for r in old.routes}
    new_routes = {r.alias: r for r in new.routes}
    sections = [name for name in DeckConfig.model_fields if getattr(old, name) != getattr(new, name)]
    return ConfigChange(
        providers_added=tuple(n for n in new_providers if n not in old_providers),
        providers_removed=tuple(n for n in old_providers if n not in new_providers),
        providers_replaced=tuple(n for n, p in new_providers.items() if n in old_providers and old_providers[n] != p),
        routes_added=tuple(a for a in new_routes if a not in old_routes),
        routes_removed=tuple(a for a in old_routes if a not in new_routes),
        routes_changed=tuple(a for a, r in new_routes.items() if a in old_routes and old_routes[a] != r),
        other_live=tuple(s for s in sections if s in LIVE_SECTIONS and s not in ("providers", "routes")),
        need_restart=tuple(s for s in sections if s not in LIVE_SECTIONS),
    )
