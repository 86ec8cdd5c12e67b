"""Checks that need the whole config: names that must exist, names that must be unique, fallbacks without cycles.

They read the plain data of the file, not the validated models, so they still run when some entry is invalid:
one `config validate` run then reports a fallback cycle beside a kind typo. An entry or value of the wrong shape
is skipped here; the schema reports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from config.kinds import KINDS, closest

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


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[int, Mapping[str, Any]]]:
    """(index, entry) of the mapping entries of a list section; anything else there is the schema's to report."""
    items = data.get(section)
    if not isinstance(items, list | tuple):
        return []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, Mapping)]


def _text(entry: Mapping[str, Any], field: str) -> str | None:
    value = entry.get(field)
    return value if isinstance(value, str) else None


def _texts(entry: Mapping[str, Any], field: str) -> list[tuple[int, str]]:
    """(index, text) of the strings of a list field."""
    values = entry.get(field)
    if not isinstance(values, list | tuple):
        return []
    return [(index, value) for index, value in enumerate(values) if isinstance(value, str)]


def _target_provider(target: Any) -> str | None:
    """The provider a target names, written `PROVIDER/MODEL` or `{provider: NAME, model: MODEL}`."""
    if isinstance(target, str):
        provider, sep, model = target.partition("/")
        return provider if sep and provider and model else None
    return _text(target, "provider") if isinstance(target, Mapping) else None


def _duplicates(section: str, field: str, names: Iterable[tuple[int, str]], what: str,
                advice: str) -> list[CheckProblem]:
    seen: dict[str, int] = {}
    problems = []
    for index, name in names:
        if name in seen:
            problems.append(CheckProblem((section, index, field), f"duplicate {what} '{name}' — {advice}",
                                         first=(section, seen[name], field)))
        else:
            seen[name] = index
    return problems


def _named(data: Mapping[str, Any], section: str, field: str) -> list[tuple[int, str]]:
    """(index, name) of the entries of a section whose `field` is a string."""
    return [(index, name) for index, entry in _entries(data, section) if (name := _text(entry, field)) is not None]


def _target_problems(data: Mapping[str, Any], kinds: Mapping[str, str | None]) -> list[CheckProblem]:
    providers = list(kinds)
    problems = []
    for r, route in _entries(data, "routes"):
        targets = route.get("targets")
        for t, target in enumerate(targets if isinstance(targets, list | tuple) else ()):
            name = _target_provider(target)
            if name is None:
                continue
            path: Path = ("routes", r, "targets", t, "provider")
            if name not in kinds:
                problems.append(CheckProblem(path, _unknown("provider", name, providers)))
                continue
            kind = KINDS.get(kinds[name] or "")  # an unknown kind is reported at the provider
            if kind is not None and not (kind.serves_chat or kind.serves_images):
                problems.append(CheckProblem(path, f"provider '{name}' is a {kind.name} service and cannot be a "
                                                   "route target"))
    return problems


def _fallback_problems(data: Mapping[str, Any], providers: list[str], aliases: list[str]) -> list[CheckProblem]:
    problems = []
    for r, route in _entries(data, "routes"):
        for f, fallback in _texts(route, "fallbacks"):
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


def _cycle_problems(data: Mapping[str, Any]) -> list[CheckProblem]:
    """Every loop of fallbacks between aliases, reported at the fallback entry that closes it."""
    fallbacks_of: dict[str, tuple[int, list[tuple[int, str]]]] = {}
    for r, route in _entries(data, "routes"):
        alias = _text(route, "alias")
        if alias is not None:
            fallbacks_of.setdefault(alias, (r, _texts(route, "fallbacks")))
    state: dict[str, str] = {}  # alias -> "open" while on the stack, "done" after
    stack: list[str] = []
    problems: list[CheckProblem] = []

    def visit(alias: str) -> None:
        state[alias] = "open"
        stack.append(alias)
        r, fallbacks = fallbacks_of[alias]
        for f, fallback in fallbacks:
            if fallback not in fallbacks_of:
                continue
            if state.get(fallback) == "open":
                loop = [*stack[stack.index(fallback):], fallback]
                problems.append(CheckProblem(("routes", r, "fallbacks", f),
                                             f"circular fallbacks: {' -> '.join(loop)} — remove one of them"))
            elif fallback not in state:
                visit(fallback)
        stack.pop()
        state[alias] = "done"

    for alias in fallbacks_of:
        if alias not in state:
            visit(alias)
    return problems


def _reference_problems(data: Mapping[str, Any], section: str, providers: list[str]) -> list[CheckProblem]:
    """Entries of budgets or prices that name a provider the config does not have."""
    return [CheckProblem((section, index, "provider"), _unknown("provider", name, providers))
            for index, name in _named(data, section, "provider") if name not in providers]


def cross_check(data: Mapping[str, Any]) -> list[CheckProblem]:
    """Every problem that needs more than one entry to see, in file order of the sections.

    `data` is the config as plain data: the parsed file, or a validated config's `model_dump()`."""
    kinds: dict[str, str | None] = {}
    for _, provider in _entries(data, "providers"):
        name = _text(provider, "name")
        if name is not None:
            kinds.setdefault(name, _text(provider, "kind"))
    providers = list(kinds)
    aliases = list(dict.fromkeys(alias for _, alias in _named(data, "routes", "alias")))
    problems = _duplicates("providers", "name", _named(data, "providers", "name"), "provider name", "rename one")
    problems += _duplicates("hosts", "name", _named(data, "hosts", "name"), "host name", "rename one")
    problems += _duplicates("routes", "alias", _named(data, "routes", "alias"), "route alias", "rename one")
    problems += _target_problems(data, kinds)
    problems += _fallback_problems(data, providers, aliases)
    problems += _cycle_problems(data)
    problems += _reference_problems(data, "budgets", providers)
    problems += _duplicates("budgets", "provider", _named(data, "budgets", "provider"), "budget for provider",
                            "merge them into one entry")
    problems += _reference_problems(data, "prices", providers)
    return problems
