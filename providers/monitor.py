"""Health monitor: polls every provider on its own jittered schedule and publishes snapshots and changes.

It owns when to probe; what a probe means is providers.health_policy's."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from providers.base import Adapter, Health
from providers.health_policy import probe_health


@dataclass(frozen=True, slots=True)
class MonitorPolicy:
    """Seconds. After a change the next `fast_probes` probes come every `fast_interval_s`; while a provider is
    down the interval doubles up to `max_interval_s`. Every interval is jittered by ±`jitter`."""

    interval_s: float = 5.0
    fast_interval_s: float = 1.0
    fast_probes: int = 3
    max_interval_s: float = 60.0
    probe_timeout_s: float = 3.0
    jitter: float = 0.2
    wake_grid_s: float = 0.25
    """Probe times are rounded up to a multiple of this, so probes due together share one wake-up."""


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """A probe result; `changed` when the status differs from the previous probe."""

    provider: str
    health: Health
    previous: Health | None
    changed: bool
    at: float


HealthListener = Callable[[HealthEvent], None]


class HealthMonitor:
    """One polling task per provider; a hung host only ever delays its own task (each probe is bounded)."""

    def __init__(self, adapters: Mapping[str, Adapter], policy: MonitorPolicy | None = None, *,
                 rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.adapters = adapters
        self.policy = policy or MonitorPolicy()
        self.rng = rng or random.Random()
        self.clock = clock
        self.snapshots: dict[str, Health] = {}
        self.probe_counts: dict[str, int] = dict.fromkeys(adapters, 0)
        self._listeners: list[HealthListener] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._running = False

    def subscribe(self, listener: HealthListener) -> Callable[[], None]:
        """Call `listener` with every probe result (on the event loop); returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def status(self, provider: str) -> str | None:
        health = self.snapshots.get(provider)
        return health.status if health else None

    def start(self) -> None:
        """Start one task per provider, with first probes spread over the first interval."""
        self._running = True
        for name in self.adapters:
            if name not in self._tasks:
                self._wake[name] = asyncio.Event()
                first = self.rng.uniform(0, min(self.policy.interval_s, 0.5))
                self._tasks[name] = asyncio.create_task(self._poll(name, first), name=f"poll_health:{name}")

    async def stop(self) -> None:
        self._running = False
        await self._end_polls(list(self._tasks))

    async def watch(self, adapters: Mapping[str, Adapter], renewed: Collection[str] = ()) -> None:
        """Watch `adapters` from now on (a config reload). A provider gone, or `renewed` (rebuilt from a changed
        config), loses its poller and its last probe; the new and renewed ones get a poller of their own, first
        probe soon, when the monitor runs. The others keep their schedule and snapshot."""
        ended = [name for name in {*self._tasks, *self.snapshots} if name not in adapters or name in renewed]
        # Nothing is awaited before the pollers are cancelled: none of them wakes to a provider no longer there.
        self.adapters = adapters
        for name in ended:
            self.snapshots.pop(name, None)
            self.probe_counts.pop(name, None)
        await self._end_polls([name for name in ended if name in self._tasks])
        for name in adapters:
            self.probe_counts.setdefault(name, 0)
        if self._running:
            self.start()

    async def _end_polls(self, names: list[str]) -> None:
        """Cancel the pollers of `names` (all of them before the first await), then wait for them to end."""
        tasks = [self._tasks.pop(name) for name in names]
        for name in names:
            self._wake.pop(name, None)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def probe_now(self, provider: str | None = None) -> None:
        """Wake one provider's poller (or all) for an immediate probe."""
        for name, event in self._wake.items():
            if provider is None or name == provider:
                event.set()

    async def probe(self, name: str) -> Health:
        """Probe one provider once through the health policy (bounded, timed, judged); never raises for a
        provider's failure."""
        health = await probe_health(self.adapters[name], self.policy.probe_timeout_s)
        self._publish(name, health)
        return health

    def _publish(self, name: str, health: Health) -> None:
        previous = self.snapshots.get(name)
        self.snapshots[name] = health
        self.probe_counts[name] = self.probe_counts.get(name, 0) + 1
        event = HealthEvent(name, health, previous, previous is None or previous.status != health.status,
                            self.clock())
        for listener in list(self._listeners):
            listener(event)

    async def _poll(self, name: str, first_delay: float) -> None:
        policy = self.policy
        fast_left = 0
        down_interval = policy.interval_s
        await self._sleep(name, first_delay)
        while True:
            previous = self.snapshots.get(name)
            health = await self.probe(name)
            if previous is not None and previous.status != health.status:
                fast_left = policy.fast_probes
            if health.status == "down" and fast_left == 0:
                down_interval = min(policy.max_interval_s, down_interval * 2)
                interval = down_interval
            else:
                down_interval = policy.interval_s
                interval = policy.fast_interval_s if fast_left else policy.interval_s
            fast_left = max(0, fast_left - 1)
            await self._sleep(name, interval * self.rng.uniform(1 - policy.jitter, 1 + policy.jitter))

    async def _sleep(self, name: str, seconds: float) -> None:
        wake = self._wake[name]
        # Deadlines snap to a grid, so the probes that fall due close together wake the process once: a
        # process woken from idle a hundred times a second pays for each wake-up in cold caches (about 0.6 ms of
        # CPU each on the lab's VMs, more than the probe itself; bench/monitor_cpu.py).
        deadline = on_grid(asyncio.get_running_loop().time() + seconds, min(self.policy.wake_grid_s, seconds / 4))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await wake.wait()
        wake.clear()


def on_grid(deadline: float, grid: float) -> float:
    """The multiple of `grid` nearest to `deadline` (an interval keeps its length on average)."""
    return math.ceil((deadline - grid / 2) / grid) * grid if grid > 0 else deadline
