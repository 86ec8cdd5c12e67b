"""GPU readings from NVML (the `nvidia-ml-py` binding): the driver's own library, for the machine llmdeck runs on.

Every NVML call blocks (a busy driver can take a noticeable time), so a whole reading runs in a worker thread.
NVML is started and shut down around each reading: the library counts its users, so two readings at once are
safe, and nothing stays loaded between polls. When it cannot start (no library, no driver), the source is
NotThere: `auto` goes on to nvidia-smi, which says in its own words what is wrong. A value the board does not
report (NVML_ERROR_NOT_SUPPORTED) is None for that value only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Final, TypeVar

import pynvml

from providers.gpu_info import Gpu, GpuProcess, HostGpus
from providers.gpus import values
from providers.gpus.outcome import NotThere, SourceResult, failed

SOURCE: Final = "nvml"
MAX_GPUS: Final = 256
MAX_PROCESSES_PER_GPU: Final = 256
T = TypeVar("T")


async def read_nvml(host: str) -> SourceResult:
    """This machine's GPUs, read through NVML in a worker thread."""
    return await asyncio.to_thread(_read, host)


def _read(host: str) -> SourceResult:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return NotThere(f"NVML: {exc}")
    try:
        count = values.whole(pynvml.nvmlDeviceGetCount(), 0, MAX_GPUS) or 0
        gpus = tuple(_device(index) for index in range(count))
    except pynvml.NVMLError as exc:
        return failed(host, SOURCE, f"NVML: {exc}")
    finally:
        _quietly(pynvml.nvmlShutdown)
    if not gpus:
        return NotThere("NVML lists no GPU")
    return HostGpus(host=host, source=SOURCE, gpus=gpus, read_at=time.time())


def _device(index: int) -> Gpu:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    utilization = _quietly(lambda: pynvml.nvmlDeviceGetUtilizationRates(handle))
    memory = _quietly(lambda: pynvml.nvmlDeviceGetMemoryInfo(handle))
    power_mw = _quietly(lambda: pynvml.nvmlDeviceGetPowerUsage(handle))
    return Gpu(
        index=index,
        name=values.label(_quietly(lambda: pynvml.nvmlDeviceGetName(handle))) or "",
        uuid=values.label(_quietly(lambda: pynvml.nvmlDeviceGetUUID(handle))),
        utilization_pct=values.utilization(getattr(utilization, "gpu", None)),
        memory_used_bytes=values.memory_bytes(getattr(memory, "used", None)),
        memory_total_bytes=values.memory_bytes(getattr(memory, "total", None)),
        temperature_c=values.temperature(
            _quietly(lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))),
        power_w=values.power(power_mw / 1000 if isinstance(power_mw, int | float) else None),
        processes=_processes(handle),
    )


def _processes(handle: Any) -> tuple[GpuProcess, ...]:
    running = _quietly(lambda: pynvml.nvmlDeviceGetComputeRunningProcesses(handle)) or []
    found: list[GpuProcess] = []
    for entry in list(running)[:MAX_PROCESSES_PER_GPU]:
        pid = values.whole(getattr(entry, "pid", None), 1, values.MAX_PID)
        if pid is None:
            continue
        # usedGpuMemory is None (or NVML's all-ones "not available") where the driver cannot tell, as under WDDM.
        used = values.memory_bytes(getattr(entry, "usedGpuMemory", None))
        name = values.label(_quietly(partial(pynvml.nvmlSystemGetProcessName, pid))) or ""
        found.append(GpuProcess(pid=pid, name=name, used_memory_bytes=used))
    return tuple(found)


def _quietly(call: Callable[[], T]) -> T | None:
    """`call()`, or None when NVML cannot give that value (not supported, lost GPU, a name that is no UTF-8)."""
    try:
        return call()
    except (pynvml.NVMLError, UnicodeDecodeError):
        return None
