"""The health monitor over many real emulated providers, some hanging: snapshots keep coming, nothing blocks."""

from __future__ import annotations

import asyncio
import itertools
import socket

from providers.adapters import build_adapter
from providers.base import AdapterOptions
from providers.http import make_client
from providers.monitor import HealthEvent, HealthMonitor, MonitorPolicy
from tests.conftest import EmulatorFactory


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_hundred_providers_with_hanging_ones_keep_reporting(emulator: EmulatorFactory) -> None:
    healthy = [emulator("ollama"), emulator("ollama")]
    hanging = emulator("ollama", faults="stall_first:30")
    refused_url = f"http://127.0.0.1:{_closed_port()}"
    urls = {f"ok-{i}": healthy[i % 2].url for i in range(60)}
    urls |= {f"hang-{i}": hanging.url for i in range(30)}
    urls |= {f"gone-{i}": refused_url for i in range(10)}
    client = make_client(max_connections=200)
    adapters = {name: build_adapter(AdapterOptions(name=name, base_url=url, kind="ollama", timeout_s=5), client)
                for name, url in urls.items()}
    monitor = HealthMonitor(adapters, MonitorPolicy(interval_s=0.3, fast_interval_s=0.3, probe_timeout_s=1.0,
                                                    max_interval_s=0.6))
    events: list[HealthEvent] = []
    monitor.subscribe(events.append)
    loop = asyncio.get_running_loop()
    tick_times: list[float] = []

    async def ticker() -> None:
        while True:
            tick_times.append(loop.time())
            await asyncio.sleep(0.02)

    tick_task = asyncio.create_task(ticker())
    monitor.start()
    try:
        await asyncio.sleep(2.0)
        mid_counts = {name: monitor.probe_counts[name] for name in urls}
        await asyncio.sleep(2.0)
    finally:
        await monitor.stop()
        tick_task.cancel()
        await client.aclose()
    # Every healthy provider was reported up (on a loaded machine a single probe may still time out now and then).
    seen_up = {event.provider for event in events if event.health.status == "up"}
    assert {f"ok-{i}" for i in range(60)} <= seen_up
    assert all(monitor.snapshots[f"hang-{i}"].status == "down" for i in range(30))
    assert "no answer within" in monitor.snapshots["hang-0"].detail
    assert all(monitor.snapshots[f"gone-{i}"].status == "down" for i in range(10))
    # Healthy providers kept being probed while 30 others hung: snapshots keep coming.
    assert all(monitor.probe_counts[f"ok-{i}"] > mid_counts[f"ok-{i}"] for i in range(60))
    # The event loop was never blocked: a 20 ms ticker kept running, and no gap between two ticks came near the
    # probe timeout a hung host would cost if its probe held the loop (a loaded CI box stretches ticks, not that).
    assert len(tick_times) > 40
    longest_gap = max(later - earlier for earlier, later in itertools.pairwise(tick_times))
    assert longest_gap < 0.8
    assert any(event.changed and event.health.status == "up" for event in events)


async def test_probe_now_wakes_a_sleeping_poller(emulator: EmulatorFactory) -> None:
    server = emulator("ollama")
    client = make_client()
    adapter = build_adapter(AdapterOptions(name="o", base_url=server.url, kind="ollama"), client)
    monitor = HealthMonitor({"o": adapter}, MonitorPolicy(interval_s=30, fast_interval_s=30))
    monitor.start()
    try:
        for _ in range(100):
            if monitor.probe_counts["o"] >= 1:
                break
            await asyncio.sleep(0.02)
        server.set_faults("refuse")
        monitor.probe_now("o")
        for _ in range(100):
            if monitor.status("o") == "down":
                break
            await asyncio.sleep(0.02)
        assert monitor.status("o") == "down"
    finally:
        await monitor.stop()
        await client.aclose()
