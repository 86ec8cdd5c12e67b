"""GPU readings from an NVIDIA DCGM exporter's Prometheus `/metrics` (dcgm-exporter, port 9400 by default).

The default counters give one gauge per GPU, labelled with the GPU's index (`gpu`), `UUID`, `device`,
`modelName`, `Hostname` and, in newer versions, `pci_bus_id` and `DCGM_FI_DRIVER_VERSION`:

    DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-…",device="nvidia0",modelName="NVIDIA L4",Hostname="box2"} 37
    DCGM_FI_DEV_FB_USED … 1057        (MiB)      DCGM_FI_DEV_GPU_TEMP … 45        (°C)
    DCGM_FI_DEV_FB_FREE … 7064        (MiB)      DCGM_FI_DEV_POWER_USAGE … 34.156 (W)

Total memory is used + free (+ DCGM_FI_DEV_FB_RESERVED where the exporter reports it, as nvidia-smi counts
reserved memory in the total). On Kubernetes the same GPU may appear once per pod using it (extra `pod`,
`namespace`, `container` labels): the first sample of each GPU counts. The exporter lists no processes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final

import httpx

from providers.adapters.prometheus import Sample, parse_prometheus
from providers.errors import ProviderError
from providers.gpu_info import Gpu, HostGpus
from providers.gpus import values
from providers.gpus.outcome import SourceResult, failed
from providers.http import send

SOURCE: Final = "dcgm"
TIMEOUT_S: Final = 5.0
MAX_BODY_BYTES: Final = 4 * 1024 * 1024
"""The default counters are about 2 KiB per GPU; every counter enabled, a few times that."""
MAX_GPUS: Final = 256

UTIL: Final = "DCGM_FI_DEV_GPU_UTIL"
FB_USED: Final = "DCGM_FI_DEV_FB_USED"
FB_FREE: Final = "DCGM_FI_DEV_FB_FREE"
FB_RESERVED: Final = "DCGM_FI_DEV_FB_RESERVED"
TEMP: Final = "DCGM_FI_DEV_GPU_TEMP"
POWER: Final = "DCGM_FI_DEV_POWER_USAGE"
_READ: Final = frozenset((UTIL, FB_USED, FB_FREE, FB_RESERVED, TEMP, POWER))


async def read_dcgm(host: str, url: str, client: httpx.AsyncClient, *, timeout_s: float = TIMEOUT_S) -> SourceResult:
    """The GPUs `url` (a DCGM exporter's /metrics) reports; a failed fetch is the reading's error."""
    try:
        async with asyncio.timeout(timeout_s):  # the whole fetch: httpx's timeout bounds each read only
            response = await send(client, "GET", url, provider=None, timeout_s=timeout_s, max_bytes=MAX_BODY_BYTES)
    except ProviderError as exc:
        return failed(host, SOURCE, f"DCGM exporter: {exc.brief}")
    except TimeoutError:
        return failed(host, SOURCE, f"DCGM exporter: no whole answer within {timeout_s:g} s")
    gpus = parse_dcgm(response.content.decode("utf-8", "replace"))
    if not gpus:
        return failed(host, SOURCE, "DCGM exporter: no GPU metrics at that URL")
    return HostGpus(host=host, source=SOURCE, gpus=tuple(gpus), read_at=time.time())


@dataclass
class _Seen:
    index: int
    name: str | None = None
    uuid: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)


def parse_dcgm(text: str) -> list[Gpu]:
    """The GPUs of an exporter's text, in index order; a sample without a whole `gpu` index is skipped."""
    seen: dict[int, _Seen] = {}
    for sample in parse_prometheus(text):
        if sample.name not in _READ:
            continue
        index = values.whole(values.number_from_text(sample.labels.get("gpu", "")), 0, values.MAX_INDEX)
        if index is None or (index not in seen and len(seen) >= MAX_GPUS):
            continue
        gpu = seen.setdefault(index, _Seen(index))
        _note(gpu, sample)
    return [_gpu(seen[index]) for index in sorted(seen)]


def _note(gpu: _Seen, sample: Sample) -> None:
    gpu.name = gpu.name or values.label(sample.labels.get("modelName"))
    gpu.uuid = gpu.uuid or values.label(sample.labels.get("UUID") or sample.labels.get("uuid"))
    gpu.metrics.setdefault(sample.name, sample.value)


def _gpu(seen: _Seen) -> Gpu:
    metrics = seen.metrics
    used = values.mib_to_bytes(metrics.get(FB_USED))
    free = values.mib_to_bytes(metrics.get(FB_FREE))
    reserved = values.mib_to_bytes(metrics.get(FB_RESERVED)) or 0
    total = None if used is None or free is None else values.memory_bytes(used + free + reserved)
    return Gpu(
        index=seen.index, name=seen.name or "", uuid=seen.uuid,
        utilization_pct=values.utilization(metrics.get(UTIL)),
        memory_used_bytes=used, memory_total_bytes=total,
        temperature_c=values.temperature(metrics.get(TEMP)),
        power_w=values.power(metrics.get(POWER)),
    )
