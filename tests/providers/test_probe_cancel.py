"""A probe cancelled part-way (the console closing, a deadline) leaves no call behind that never ran: every
extra endpoint a probe reads is called inside the probe's own task, not built by the caller beforehand."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Iterator

import pytest

from providers.adapters import build_adapter
from providers.base import AdapterOptions
from providers.emulators.registry import start_emulator
from providers.emulators.server import EmulatorServer, stop_all
from providers.http import make_client

KINDS = ("vllm", "llamacpp")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, EmulatorServer]]:
    """One emulator per kind for the module: a health probe only reads, so each test starts from the same state."""
    running = {kind: start_emulator(kind) for kind in KINDS}
    yield running
    stop_all(running.values())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loop_turns", range(12))
async def test_a_probe_cancelled_at_any_point_leaves_no_unawaited_call(kind: str, loop_turns: int,
                                                                       servers: dict[str, EmulatorServer]) -> None:
    async with make_client() as client:
        options = AdapterOptions(name=f"probe-{kind}", base_url=servers[kind].url, kind=kind)
        adapter = build_adapter(options, client)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            probe = asyncio.ensure_future(adapter.health())
            for _ in range(loop_turns):  # cancelled at a different step of the probe each time
                await asyncio.sleep(0)
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
            del probe
            gc.collect()
    never_awaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []
