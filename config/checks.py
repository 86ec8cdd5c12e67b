"""Checks that need the whole config: names that must exist, names that must be unique, fallbacks without cycles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.kinds import KINDS, closest

if TYPE_CHECKING:
    from config.schema import DeckConfig

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class CheckProblem:
    """A problem found across entries, at the data path of the value to fix."""

    path: Path
    message: str
    first: Path | None = None
    """For duplicates: where the name was first defined."""

    def text(self, first_line: int | None = None) -> str:
        """The message, pointing at the first definition by line when known, else by data path."""
        if self.first is None:
            return self.message
        if first_line is not None:
            return f"{self.message} (first on line {first_line})"
        return f"{self.message} (first at {self.first[0]}[{self.first[1]}])"


def _unknown(what: str, name: str, known: Sequence[str], where: str = "") -> str:
    guess = closest(name, list(known))
    if guess:
        return f"unknown {what} '{name}'{where} — did you mean '{guess}'?"
    if known:
        return f"unknown {what} '{name}'{where}; known: {', '.join(known)}"
    return f"unknown {what} '{name}'{where} — none is defined"


def _duplicates(section: str, field: str, names: Iterable[str], what: str, advice: str) -> list[CheckProblem]:
    seen: dict[str, int] = {}
    problems = []
    for index, name in enumerate(names):
        if name in seen:
            problems.append(CheckProblem((section, index, field), f"duplicate {what} '{name}' — {advice}",
                                         first=(section, seen[name], field)))
        else:
            seen[name] = index
    return problems


def _target_problems(config: DeckConfig, providers: list[str]) -> list[CheckProblem]:
    problems = []
    for r, route in enumerate(config.routes):
        for t, target in enumerate(route.targets):
            path: Path = ("routes", r, "targets", t, "provider")
            provider = config.provider(target.provider)
            if provider is None:
                problems.append(CheckProblem(path, _unknown("provider", target.provider, providers)))
            elif not (KINDS[provider.kind].serves_chat or KINDS[provider.kind].serves_images):
                problems.append(CheckProblem(path, f"provider '{provider.name}' is a {provider.kind} service and "
                                                   "cannot be a route target"))
    return problems


def _fallback_problems(config: DeckConfig, providers: list[str], aliases: list[str]) -> list[CheckProblem]:
    problems = []
    for r, route in enumerate(config.routes):
        for f, fallback in enumerate(route.fallbacks):
            path: Path = ("routes", r, "fallbacks", f)
            if fallback in aliases:
                continue
            provider, sep, model = fallback.partition("/")
            if not sep:
                problems.append(CheckProblem(path, _unknown("alias", fallback, aliases)))
            elif not model:
                problems.append(CheckProblem(path, f"fallback '{fallback}' needs a model: PROVIDER/MODEL"))
            elif provider not in providers:
                problems.append(CheckProblem(path, _unknown("provider", provider, providers, f" in '{fallback}'")))
    return problems


def _cycle_problems(config: DeckConfig) -> list[CheckProblem]:
    """Every loop of fallbacks between aliases, reported at the fallback entry that closes it."""
    index_of: dict[str, int] = {}
    for r, route in enumerate(config.routes):
        index_of.setdefault(route.alias, r)
    state: dict[str, str] = {}  # alias -> "open" while on the stack, "done" after
    stack: list[str] = []
    problems: list[CheckProblem] = []

    def visit(alias: str) -> None:
        state[alias] = "open"
        stack.append(alias)
        r = index_of[alias]
        for f, fallback in enumerate(config.routes[r].fallbacks):
            if fallback not in index_of:
                continue
            if state.get(fallback) == "open":
                loop = [*stack[stack.index(fallback):], fallback]
                problems.append(CheckProblem(("routes", r, "fallbacks", f),
                                             f"circular fallbacks: {' -> '.join(loop)} — remove one of them"))
            elif fallback not in state:
                visit(fallback)
        stack.pop()
        state[alias] = "done"

    for alias in index_of:
        if alias not in state:
            visit(alias)
    return problems


def cross_check(config: DeckConfig) -> list[CheckProblem]:
    """Every problem that needs more than one entry to see, in file order of the sections."""
    providers = list(dict.fromkeys(p.name for p in config.providers))
    aliases = list(dict.fromkeys(r.alias for r in config.routes))
    problems = _duplicates("providers", "name", (p.name for p in config.providers), "provider name", "rename one")
    problems += _duplicates("hosts", "name", (h.name for h in config.hosts), "host name", "rename one")
    problems += _duplicates("routes", "alias", (r.alias for r in config.routes), "route alias", "rename one")
    problems += _target_problems(config, providers)
    problems += _fallback_problems(config, providers, aliases)
    problems += _cycle_problems(config)
    for b, budget in enumerate(config.budgets):
        if budget.provider not in providers:
            problems.append(CheckProblem(("budgets", b, "provider"), _unknown("provider", budget.provider, providers)))
    problems += _duplicates("budgets", "provider", (b.provider for b in config.budgets), "budget for provider",
                            "merge them into one entry")
    for p, price in enumerate(config.prices):
        if price.provider is not None and price.provider not in providers:
            problems.append(CheckProblem(("prices", p, "provider"), _unknown("provider", price.provider, providers)))
    return problems
