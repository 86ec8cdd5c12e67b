"""The GPU poller: reads every host's GPUs every few seconds and keeps the latest reading of each. UI-free.

The Deck owns one (providers/deck.py) and polls only while its health monitor runs (the console, serve-metrics);
a one-shot command reads on demand with `read`. A host is never read twice at once: a read asked for while one
is under way (the poller's, or another caller's) waits for that one. Each host has its own read, so a host whose
ssh hangs until its deadline holds up no other. The hosts come from the config at each round, so a reload's new
`hosts:` are read from the next round on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import httpx

from config.schema import DeckConfig, HostConfig
from providers.gpu_info import HostGpus
from providers.gpus.reader import gpu_hosts, read_host_gpus
from providers.host_context import host_problem

POLL_S: Final = 5.0
"""Seconds between two rounds of readings: GPU load moves in seconds, and nvidia-smi over ssh costs a login."""


class UnknownGpuHostError(ValueError):
    """A host name that is not one whose GPUs are read; the message names the nearest one."""


class GpuMonitor:
    """Latest GPU readings per host; `start()` polls every `interval_s`, `read()` reads now."""

    def __init__(self, config: Callable[[], DeckConfig], client: httpx.AsyncClient, *,
                 interval_s: float = POLL_S, timeout_s: float | None = None) -> None:
        self._config = config
        self._client = client
        self.interval_s = interval_s
        self._timeout_s = timeout_s
        """Bounds each source of a reading; None keeps the sources' own deadlines."""
        self._latest: dict[str, HostGpus] = {}
        self._reads: dict[str, asyncio.Task[HostGpus]] = {}
        self._poller: asyncio.Task[None] | None = None

    def hosts(self) -> tuple[HostConfig, ...]:
        """The hosts read: the config's `hosts:`, or the implicit "local" one when it has none."""
        return gpu_hosts(self._config())

    def latest(self) -> dict[str, HostGpus]:
        """The last reading of each current host, in config order; a host not read yet is absent. No I/O."""
        return {host.name: self._latest[host.name] for host in self.hosts() if host.name in self._latest}

    async def read(self, host: str | None = None) -> dict[str, HostGpus]:
        """Read every host (or only `host`) now, concurrently; UnknownGpuHostError for a name that is no host."""
        hosts = self.hosts()
        if host is not None:
            hosts = tuple(h for h in hosts if h.name == host)
            if not hosts:
                raise UnknownGpuHostError(host_problem(host, [h.name for h in self.hosts()]) or host)
        reads = [self._reading(h) for h in hosts]
        # Shielded: a caller that gives up does not cancel a read others may be waiting on.
        results = await asyncio.gather(*(asyncio.shield(read) for read in reads))
        return {reading.host: reading for reading in results}

    @property
    def polling(self) -> bool:
        return self._poller is not None and not self._poller.done()

    def start(self) -> None:
        """Poll in the background until `stop()`; starting twice polls once."""
        if not self.polling:
            self._poller = asyncio.create_task(self._poll(), name="gpu-poller")

    async def stop(self) -> None:
        """Stop polling and end every read under way (their nvidia-smi or ssh processes are killed)."""
        tasks = [task for task in (self._poller, *self._reads.values()) if task is not None]
        self._poller = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll(self) -> None:
        while True:
            for host in self.hosts():
                self._reading(host)
            await asyncio.sleep(self.interval_s)

    def _reading(self, host: HostConfig) -> asyncio.Task[HostGpus]:
        """The read of `host` under way, or a new one."""
        task = self._reads.get(host.name)
        if task is None:
            task = asyncio.create_task(self._read(host), name=f"gpus:{host.name}")
            self._reads[host.name] = task
            task.add_done_callback(lambda done: self._finished(host.name, done))
        return task

    async def _read(self, host: HostConfig) -> HostGpus:
        reading = await read_host_gpus(host, self._client, timeout_s=self._timeout_s)
        self._latest[host.name] = reading
        return reading

    def _finished(self, name: str, task: asyncio.Task[HostGpus]) -> None:
        if self._reads.get(name) is task:
            del self._reads[name]
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio logs nothing: read_host_gpus turns every fault into the reading
