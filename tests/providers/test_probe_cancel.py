"""A probe cancelled part-way (the console closing, a deadline) leaves no call behind that never ran: every
extra endpoint a probe reads is called inside the probe's own task, not built by the caller beforehand."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from providers.adapters import build_adapter
from providers.base import AdapterOptions
from providers.emulators.registry import start_emulator
from providers.http import make_client


@pytest.mark.parametrize("kind", ["vllm", "llamacpp"])
@pytest.mark.parametrize("loop_turns", range(12))
async def test_a_probe_cancelled_at_any_point_leaves_no_unawaited_call(kind: str, loop_turns: int) -> None:
    server = start_emulator(kind)
    try:
        async with make_client() as client:
            options = AdapterOptions(name=f"probe-{kind}", base_url=server.url, kind=kind)
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
    finally:
        server.stop()
    never_awaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert never_awaited == []
