"""GPU readings in words for people: a host's one-line summary (Health's host rows), its GPUs line by line (the
host details), and "will it fit?" for a pull or a load, with the arithmetic shown. UI-free; plain text, each line
terminal-safe (GPU and process names are the driver's words)."""

from __future__ import annotations

from dataclasses import dataclass

from providers.display import byte_size, count, percent
from providers.gpu_info import Gpu, HostGpus
from providers.safe_text import one_line


def _utilization(gpu: Gpu) -> float | None:
    return None if gpu.utilization_pct is None else gpu.utilization_pct / 100


def _memory(used: int | None, total: int | None) -> str:
    return f"{byte_size(used, compact=True)}/{byte_size(total, compact=True)}"


def gpu_summary(reading: HostGpus | None) -> str:
    """`2 GPU 45G/160G 63%` (memory over all GPUs, mean utilisation), `no GPU`, `GPU: <why the reading failed>`,
    or "" before the first reading."""
    if reading is None:
        return ""
    if not reading.gpus:
        return one_line(f"GPU: {reading.error}") if reading.failed else "no GPU"
    used = [gpu.memory_used_bytes for gpu in reading.gpus if gpu.memory_used_bytes is not None]
    total = [gpu.memory_total_bytes for gpu in reading.gpus if gpu.memory_total_bytes is not None]
    busy = [load for gpu in reading.gpus if (load := _utilization(gpu)) is not None]
    parts = [f"{len(reading.gpus)} GPU", _memory(sum(used) if used else None, sum(total) if total else None)]
    if busy:
        parts.append(percent(sum(busy) / len(busy)))
    return one_line(" ".join(parts))


def gpu_lines(reading: HostGpus | None) -> list[str]:
    """Every GPU of the host with its readings and the processes holding memory on it."""
    if reading is None:
        return ["not read yet"]
    if not reading.gpus:
        return [one_line(reading.error or "no GPU found")]
    lines: list[str] = []
    for gpu in reading.gpus:
        temperature = "—" if gpu.temperature_c is None else f"{gpu.temperature_c:.0f} °C"
        power = "—" if gpu.power_w is None else f"{gpu.power_w:.0f} W"
        lines.append(f"GPU {gpu.index}  {gpu.name}  {percent(_utilization(gpu))} busy  "
                     f"{byte_size(gpu.memory_used_bytes)} of {byte_size(gpu.memory_total_bytes)}  "
                     f"{temperature}  {power}")
        lines += [f"  pid {process.pid}  {process.name}  {byte_size(process.used_memory_bytes)}"
                  for process in gpu.processes]
    return [one_line(line) for line in lines]


@dataclass(frozen=True, slots=True)
class FitCheck:
    """Whether a model fits in a host's free GPU memory, and the line that says so with the arithmetic."""

    on_one_gpu: bool
    text: str


def fit_check(size_bytes: int | None, reading: HostGpus | None, host: str) -> FitCheck | None:
    """Whether a model of `size_bytes` fits in the free GPU memory of `host`; None when there is nothing to compare
    (no size, no reading, no GPU). Weights only: the KV cache needs room beside them."""
    text = _fit_text(size_bytes, reading, host)
    if text is None or size_bytes is None or reading is None:
        return None
    free = [room for gpu in reading.gpus if (room := gpu.memory_free_bytes) is not None]
    return FitCheck(on_one_gpu=size_bytes <= max(free), text=text)


def _fit_text(size_bytes: int | None, reading: HostGpus | None, host: str) -> str | None:
    if size_bytes is None or size_bytes <= 0 or reading is None or not reading.gpus:
        return None
    free = [(gpu, gpu.memory_free_bytes) for gpu in reading.gpus]
    known = [(gpu, room) for gpu, room in free if room is not None]
    if not known:
        return None
    need = byte_size(size_bytes)
    best_gpu, best = max(known, key=lambda pair: pair[1])
    arithmetic = (f"GPU {best_gpu.index}: {byte_size(best_gpu.memory_total_bytes)} − "
                  f"{byte_size(best_gpu.memory_used_bytes)} used = {byte_size(best)} free")
    if size_bytes <= best:
        return one_line(f"Will it fit on {host}? yes: {need} ≤ {arithmetic} (weights only; the KV cache needs more)")
    together = sum(room for _, room in known)
    if len(known) > 1 and size_bytes <= together:
        spread = " + ".join(byte_size(room) for _, room in known)
        return one_line(f"Will it fit on {host}? only split across {count(len(known), 'GPU')}: {need} ≤ {spread} "
                        f"= {byte_size(together)} free (largest single: {arithmetic})")
    return one_line(f"Will it fit on {host}? no: {need} > {byte_size(together)} free on "
                    f"{count(len(known), 'GPU')} (largest: {arithmetic})")
