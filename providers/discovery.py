"""Auto-discovery: probe candidate local servers with their adapters, in parallel, and keep what answered."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from config.loader import discovered_provider
from config.schema import ProviderConfig
from providers.adapters import ADAPTERS, build_adapter
from providers.base import AdapterOptions, Health
from providers.errors import ProviderError
from providers.http import make_client

ANSWERED = frozenset({"up", "degraded", "unauthorized"})
"""Statuses that prove a server of that kind is listening (unauthorized: it is there, it wants a key)."""

DEFAULT_TIMEOUT_S = 0.8
"""Per candidate. Loopback refuses a closed port at once; only a hung listener ever waits this long."""


@dataclass(frozen=True, slots=True)
class Found:
    """A candidate that answered its kind's health probe."""

    provider: ProviderConfig
    health: Health


async def _probe(kind: str, base_url: str, client: httpx.AsyncClient, timeout_s: float) -> Found | None:
    provider = discovered_provider(kind, base_url)
    options = AdapterOptions(name=provider.name, base_url=provider.base_url or base_url, kind=kind,
                             timeout_s=timeout_s, connect_timeout_s=timeout_s)
    adapter = build_adapter(options, client)
    try:
        async with asyncio.timeout(timeout_s):
            health = await adapter.health()
    except (TimeoutError, ProviderError):
        return None
    return Found(provider, health) if health.status in ANSWERED else None


async def discover(candidates: Sequence[tuple[str, str]], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                   client: httpx.AsyncClient | None = None) -> list[Found]:
    """Probe every (kind, base_url) candidate at once, each bounded by `timeout_s`; kinds without an adapter are
    skipped. Returns what answered, in candidate order, at most one per base_url (the first kind that answered:
    ports shared by several kinds are told apart by which probe succeeds)."""
    probed = [(kind, url) for kind, url in candidates if kind in ADAPTERS]
    own_client = client is None
    http = client or make_client(timeout_s=timeout_s, connect_timeout_s=timeout_s)
    try:
        results = await asyncio.gather(*(_probe(kind, url, http, timeout_s) for kind, url in probed))
    finally:
        if own_client:
            await http.aclose()
    found: list[Found] = []
    seen_urls: set[str] = set()
    for result in results:
        if result is None or result.provider.base_url in seen_urls:
            continue
        seen_urls.add(result.provider.base_url or "")
        found.append(result)
    return found
