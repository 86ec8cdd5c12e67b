"""Shared by the provider tests: the clients they talk through, the OpenAI-compatible emulators, and a stock
Chroma replayed from its recordings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer, stop_all
from providers.http import make_client
from tests.hostile.hostile_server import HostileServer, canned, hostile_server, http_reply
from tests.providers.recorded import recorded
from tests.waiting import HANG_S

OPENAI_FLAVOURS = ("openai", "vllm", "llamacpp")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The client every adapter is built on in production (keep-alive pool, light transport, no env proxies)."""
    async with make_client() as shared:
        yield shared


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client for reading an emulator's wire directly, without an adapter between."""
    async with httpx.AsyncClient(timeout=HANG_S) as plain:
        yield plain


@pytest.fixture(scope="module")
def openai_servers() -> Iterator[dict[str, EmulatorServer]]:
    """The openai, vllm and llamacpp emulators, once per module (tests that set server-wide faults start their
    own)."""
    started = {flavour: start_emulator(flavour) for flavour in OPENAI_FLAVOURS}
    yield started
    stop_all(started.values())


@pytest.fixture
def stock_chroma() -> Iterator[HostileServer]:
    """Chroma 1.5.9's recorded replies, byte for byte; any other path (vLLM's /health among them) a 404 with an
    empty body, as 1.5.9 sends."""
    database = "/api/v2/tenants/default_tenant/databases"
    routes = {"/api/v2/heartbeat": canned(recorded("chroma_v2_heartbeat")),
              "/api/v2/version": canned(recorded("chroma_v2_version")),
              f"{database}/default_database/collections": canned(recorded("chroma_v2_collections")),
              f"{database}/labdb/collections": canned(recorded("chroma_v2_collections_other_database")),
              "/api/v1/heartbeat": canned(recorded("chroma_v1_collections_410")),
              "/api/v1/collections": canned(recorded("chroma_v1_collections_410"))}
    with hostile_server(routes, default=canned(http_reply(b"", status=404))) as server:
        yield server
