"""The health monitor over many real emulated providers, some hanging: snapshots keep coming, nothing blocks."""

from __future__ import annotations

import random
import socket

import pytest

from providers.adapters import build_adapter
from providers.base import AdapterOptions
from providers.http import make_client
from providers.monitor import HealthEvent, HealthMonitor, MonitorPolicy, on_grid
from tests.conftest import EmulatorFactory
from tests.waiting import bounded, wait_for_condition


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_hundred_providers_with_hanging_ones_keep_reporting(emulator: EmulatorFactory) -> None:
    healthy = [emulator("ollama"), emulator("ollama")]
    hanging = emulator("ollama", faults="stall_first:600")
    refused_url = f"http://127.0.0.1:{_closed_port()}"
    urls = {f"ok-{i}": healthy[i % 2].url for i in range(60)}
    urls |= {f"hang-{i}": hanging.url for i in range(30)}
    urls |= {f"gone-{i}": refused_url for i in range(10)}
    client = make_client(max_connections=200)
    adapters = {name: build_adapter(AdapterOptions(name=name, base_url=url, kind="ollama", timeout_s=600), client)
                for name, url in urls.items()}
    # The hung probes outlive the test: if one of them held the event loop, nothing below could ever happen.
    monitor = HealthMonitor(adapters, MonitorPolicy(interval_s=0.3, fast_interval_s=0.3, probe_timeout_s=600,
                                                    max_interval_s=0.6))
    events: list[HealthEvent] = []
    monitor.subscribe(events.append)
    ok_names = [f"ok-{i}" for i in range(60)]
    monitor.start()
    try:
        # Every healthy provider is reported up (a loaded machine may time out a single probe now and then)...
        await wait_for_condition(lambda: set(ok_names) <= {e.provider for e in events if e.health.status == "up"},
                                 what="every healthy provider reported up")
        await wait_for_condition(lambda: all(monitor.status(f"gone-{i}") == "down" for i in range(10)),
                                 what="every refused provider down")
        # ...and keeps being probed, round after round, while 30 probes hang.
        for _ in range(2):
            before = {name: monitor.probe_counts[name] for name in ok_names}
            await wait_for_condition(lambda: all(monitor.probe_counts[n] > before[n] for n in ok_names),  # noqa: B023
                                     what="another round of probes of the healthy providers")
        assert not any(monitor.probe_counts[f"hang-{i}"] > 1 for i in range(30)), "a hung probe never finished"
    finally:
        await bounded(monitor.stop(), what="the monitor to stop with 30 probes hanging")
        await client.aclose()
    assert any(event.changed and event.health.status == "up" for event in events)


async def test_a_probe_without_an_answer_marks_the_provider_down(emulator: EmulatorFactory) -> None:
    hanging = emulator("ollama", faults="stall_first:600")
    client = make_client()
    adapter = build_adapter(AdapterOptions(name="hang", base_url=hanging.url, kind="ollama", timeout_s=600), client)
    monitor = HealthMonitor({"hang": adapter}, MonitorPolicy(interval_s=30, fast_interval_s=30, probe_timeout_s=0.5))
    monitor.start()
    try:
        await wait_for_condition(lambda: monitor.status("hang") == "down", what="the hung provider down")
        assert "no answer within" in monitor.snapshots["hang"].detail
    finally:
        await bounded(monitor.stop(), what="the monitor to stop")
        await client.aclose()


async def test_probe_now_wakes_a_sleeping_poller(emulator: EmulatorFactory) -> None:
    server = emulator("ollama")
    client = make_client()
    adapter = build_adapter(AdapterOptions(name="o", base_url=server.url, kind="ollama"), client)
    monitor = HealthMonitor({"o": adapter}, MonitorPolicy(interval_s=600, fast_interval_s=600))
    monitor.start()
    try:
        await wait_for_condition(lambda: monitor.probe_counts["o"] >= 1, what="the first probe")
        server.set_faults("refuse")
        monitor.probe_now("o")
        # the poller sleeps 600 s between rounds: only probe_now can make this happen within the wait
        await wait_for_condition(lambda: monitor.status("o") == "down", what="the refused provider down")
    finally:
        await monitor.stop()
        await client.aclose()


@pytest.mark.parametrize("grid", [0.25, 0.1, 0.5])
def test_probe_deadlines_snap_to_a_shared_grid_without_drifting(grid: float) -> None:
    rng = random.Random(7)
    deadlines = [rng.uniform(1000.0, 1010.0) for _ in range(2000)]
    snapped = [on_grid(deadline, grid) for deadline in deadlines]
    # every wake-up lands on the grid, so probes due within one grid step share it ...
    assert all(abs(value / grid - round(value / grid)) < 1e-6 for value in snapped)
    assert len(set(snapped)) <= 10 / grid + 2
    # ... each moves by at most half a step, and on average not at all
    assert all(abs(value - deadline) <= grid / 2 + 1e-9 for value, deadline in zip(snapped, deadlines, strict=True))
    assert abs(sum(s - d for s, d in zip(snapped, deadlines, strict=True)) / len(deadlines)) < grid / 10
    assert on_grid(1003.3, 0.0) == 1003.3
