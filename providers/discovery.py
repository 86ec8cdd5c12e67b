"""Auto-discovery: ask candidate local servers, in parallel, what they are (providers/kind_proof.py), and keep
each server once, as the kind with the strongest proof, with its health."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from config.loader import discovered_provider
from config.schema import ProviderConfig
from providers.adapters import ADAPTERS, build_adapter
from providers.base import AdapterOptions, Health
from providers.health_policy import probe_health
from providers.http import make_client
from providers.kind_proof import Proof, prove, strongest

DEFAULT_TIMEOUT_S = 0.8
"""Per candidate. Loopback refuses a closed port at once; only a hung listener ever waits this long."""


@dataclass(frozen=True, slots=True)
class Found:
    """A candidate whose replies proved its kind, and how its health probe went."""

    provider: ProviderConfig
    health: Health
    proof: str = ""
    """What proved the kind, in words (`GET /v1/models listed a model owned_by vllm`)."""


async def _health(kind: str, base_url: str, client: httpx.AsyncClient, timeout_s: float) -> Health:
    provider = discovered_provider(kind, base_url)
    options = AdapterOptions(name=provider.name, base_url=provider.base_url or base_url, kind=kind,
                             timeout_s=timeout_s, connect_timeout_s=timeout_s)
    return await probe_health(build_adapter(options, client), timeout_s)


async def _examine(kind: str, base_url: str, client: httpx.AsyncClient,
                   timeout_s: float) -> tuple[Proof, Health]:
    # Both at once: the health is wanted only if the proof holds, but waiting for the proof first would double
    # the time a hung port costs.
    proof, health = await asyncio.gather(prove(kind, base_url, client, timeout_s),
                                         _health(kind, base_url, client, timeout_s))
    return proof, health


async def discover(candidates: Sequence[tuple[str, str]], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                   client: httpx.AsyncClient | None = None) -> list[Found]:
    """Examine every (kind, base_url) candidate at once, each bounded by `timeout_s`; kinds without an adapter are
    skipped. Returns, in candidate order, one Found per base_url whose replies proved a kind: the strongest proof
    wins, the candidate listed first on a tie. A reply that proves nothing (a 404, another server's body) is never
    taken for a server of that kind, whatever its status."""
    probed = [(kind, url) for kind, url in candidates if kind in ADAPTERS]
    own_client = client is None
    http = client or make_client(timeout_s=timeout_s, connect_timeout_s=timeout_s)
    try:
        results = await asyncio.gather(*(_examine(kind, url, http, timeout_s) for kind, url in probed))
    finally:
        if own_client:
            await http.aclose()
    winners: dict[str, int] = {}
    for url in dict.fromkeys(url for _kind, url in probed):
        indices = [i for i, (_kind, candidate_url) in enumerate(probed) if candidate_url == url]
        best = strongest([results[i][0] for i in indices])
        if best is not None:
            winners[url] = indices[best]
    found: list[Found] = []
    for index in sorted(winners.values()):
        kind, url = probed[index]
        proof, health = results[index]
        found.append(Found(discovered_provider(kind, url), health, proof.says))
    return found
