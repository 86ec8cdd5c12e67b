"""What llmdeck knows of a host's GPUs at one moment: the readings every GPU source (NVML, nvidia-smi, a DCGM
exporter) is turned into, and what the panes, the CLI and the metrics endpoint read. A field a source did not
report (`[N/A]`, absent from the exporter) is None, never a made-up zero."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding memory on a GPU."""

    pid: int
    name: str
    used_memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class Gpu:
    """One GPU's readings."""

    index: int
    name: str
    uuid: str | None = None
    utilization_pct: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    processes: tuple[GpuProcess, ...] = ()

    @property
    def memory_free_bytes(self) -> int | None:
        if self.memory_used_bytes is None or self.memory_total_bytes is None:
            return None
        return max(0, self.memory_total_bytes - self.memory_used_bytes)


@dataclass(frozen=True, slots=True)
class HostGpus:
    """A host's GPUs as last read. `error` says why there is nothing (no GPU, driver error, ssh failed) in one
    terminal-safe line; `gpus` is empty then."""

    host: str
    source: str
    """Which source answered: "nvml", "nvidia-smi", "dcgm", or "none"."""
    gpus: tuple[Gpu, ...] = ()
    error: str | None = None
    read_at: float = 0.0
    """time.time() of the reading."""

    @property
    def failed(self) -> bool:
        """Whether the reading failed (a driver error, ssh refused, an exporter down), as opposed to a host that
        has no GPU (source "none") or was read."""
        return self.error is not None and self.source != "none"

    @property
    def memory_free_bytes(self) -> int | None:
        """Free memory over all GPUs of the host; None when no GPU reported both used and total."""
        free = [gpu.memory_free_bytes for gpu in self.gpus]
        known = [value for value in free if value is not None]
        return sum(known) if known else None
