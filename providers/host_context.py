"""Hosts as contexts: which providers a host holds, and what `--host NAME` / `:host NAME` may name. Shared by the
console and the CLI; UI-free.

A host is a name of `hosts:` or any `host:` a provider gives (a provider may name a host that has no `hosts:`
entry: it still groups). Providers without a host belong to no host and are shown only when no host is chosen.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from config.schema import DeckConfig, ProviderConfig

ALL_HOSTS = "all"
"""`:host all` widens the context again."""


def host_names(config: DeckConfig) -> list[str]:
    """Every host, in the order of `hosts:` first, then the ones only providers name."""
    names = [host.name for host in config.hosts]
    for provider in config.providers:
        if provider.host and provider.host not in names:
            names.append(provider.host)
    return names


def providers_on(providers: Mapping[str, ProviderConfig], host: str | None) -> list[str]:
    """The providers of `host`, in config order; every provider when host is None."""
    return [name for name, provider in providers.items() if host is None or provider.host == host]


def host_problem(name: str, known: Iterable[str]) -> str | None:
    """Why `name` is no host (with the nearest one, and the known ones when few), or None when it is one."""
    hosts = list(known)
    if name in hosts or name == ALL_HOSTS:
        return None
    if not hosts:
        return f"unknown host {name!r}: the config names no hosts (give providers `host:` or add `hosts:`)"
    nearest = difflib.get_close_matches(name, hosts, n=1, cutoff=0.6)
    if nearest:
        return f"unknown host {name!r} — did you mean {nearest[0]}?"
    listed = ", ".join(hosts[:8]) + (", …" if len(hosts) > 8 else "")
    return f"unknown host {name!r} — the hosts are: {listed}"


def chosen_host(name: str | None) -> str | None:
    """The context a `--host` / `:host` argument asks for: None for every host."""
    return None if name in (None, "", ALL_HOSTS) else name
