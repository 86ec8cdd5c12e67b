"""The console's side of auto-discovery: what was found, the config it implies, and the starter file."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from config.loader import discovery_candidates
from config.paths import default_config_path
from config.schema import DeckConfig
from providers.discovery import DEFAULT_TIMEOUT_S, Found, discover


@dataclass(frozen=True, slots=True)
class DiscoveryOutcome:
    """What answered on this machine, and where a starter config would go."""

    found: tuple[Found, ...]
    config_path: Path
    probed: int = 0

    @property
    def config(self) -> DeckConfig:
        """A config holding only the servers that answered."""
        return DeckConfig(providers=tuple(f.provider for f in self.found))

    @property
    def names(self) -> list[str]:
        return [f.provider.name for f in self.found]


async def discover_local(candidates: Sequence[tuple[str, str]] | None = None, *,
                         timeout_s: float = DEFAULT_TIMEOUT_S, config_path: Path | None = None) -> DiscoveryOutcome:
    """Probe the usual local ports (config/defaults.yaml), or `candidates` when given."""
    chosen = list(candidates) if candidates is not None else await asyncio.to_thread(discovery_candidates)
    found = await discover(chosen, timeout_s=timeout_s)
    return DiscoveryOutcome(tuple(found), config_path or default_config_path(), len(chosen))


def starter_yaml(found: Sequence[Found]) -> str:
    """A commented config listing what was found, with a route example to adapt."""
    lines = [
        "# llmdeck config, written by :save-config from the servers that answered on this machine.",
        "# Check it with `llmdeck config validate`; keys go in the keyring (`llmdeck keys set NAME`) and are",
        "# referenced here as keyring:NAME, never written in this file.",
        "providers:",
    ]
    for item in found:
        provider = item.provider
        version = f"  # {item.health.version}" if item.health.version else ""
        lines += [
            f"  - name: {provider.name}{version}",
            f"    kind: {provider.kind}",
            f'    base_url: "{provider.base_url}"',
        ]
    if not found:
        lines[-1] = "providers: []"
    first = found[0].provider.name if found else "PROVIDER"
    lines += [
        "",
        "# A route sends a chat to the first healthy target, then to its fallbacks:",
        "# routes:",
        "#   - alias: chat",
        f"#     targets: [{{provider: {first}, model: MODEL}}]",
        "#     fallbacks: []",
        "",
    ]
    return "\n".join(lines)


def save_starter_config(path: Path, found: Sequence[Found]) -> Path:
    """Write the starter config to `path`; FileExistsError if anything is there (never overwrites)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:
        out.write(starter_yaml(found))
    return path
