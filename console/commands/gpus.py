"""`llmdeck gpus [--host NAME] [--json]`: each host's GPUs read once, now.

One row per GPU: host, index, name, utilisation, memory used / total, temperature, power draw, and the processes
holding memory on it (`pid:name:memory`). A host with no GPU, or whose reading failed, has one row whose name
cell says why. `--json` prints one document: a list of hosts, each with its source, error and GPUs (memory in
bytes, power in W, temperature in °C, utilisation in %; null where the source did not say).

Exit status: 0 when at least one host was read or has no GPU; 1 when the reading of every host failed (a driver
error, ssh refused, an exporter down); 2 for a host that is not configured (the nearest name is suggested).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from collections.abc import Iterable

from rich.table import Column

from console.commands.output import print_json, print_table
from console.commands.session import CommandError, fail, open_deck
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from providers.display import MISSING, byte_size, number, percent
from providers.gpu_info import Gpu, HostGpus
from providers.gpu_monitor import UnknownGpuHostError
from providers.host_context import chosen_host

HEADINGS = ("host", "gpu", Column("name", max_width=60, overflow="fold"), "util", "memory", "temp", "power",
            Column("processes", max_width=60, overflow="fold"))


def run(args: argparse.Namespace) -> int:
    host = chosen_host(getattr(args, "host_context", None))

    async def main() -> dict[str, HostGpus]:
        async with open_deck(args) as deck:
            try:
                return await deck.read_gpus(host)
            except UnknownGpuHostError as exc:
                raise CommandError(str(exc), EXIT_USAGE) from None

    try:
        readings = asyncio.run(main())
    except CommandError as exc:
        return fail(str(exc), exc.code)
    if args.json:
        print_json([dataclasses.asdict(reading) for reading in readings.values()])
    else:
        print_table(HEADINGS, rows(readings.values()))
    return EXIT_FAILED if readings and all(r.failed for r in readings.values()) else EXIT_OK


def rows(readings: Iterable[HostGpus]) -> list[tuple[object, ...]]:
    """The table's rows: one per GPU, or one saying why a host has none."""
    table: list[tuple[object, ...]] = []
    for reading in readings:
        if not reading.gpus:
            table.append((reading.host, MISSING, reading.error or "no GPU found", "", "", "", "", ""))
        table.extend(gpu_cells(reading.host, gpu) for gpu in reading.gpus)
    return table


def gpu_cells(host: str, gpu: Gpu) -> tuple[object, ...]:
    utilization = None if gpu.utilization_pct is None else gpu.utilization_pct / 100
    temperature = MISSING if gpu.temperature_c is None else f"{number(gpu.temperature_c)} °C"
    power = MISSING if gpu.power_w is None else f"{number(gpu.power_w, 1)} W"
    processes = ", ".join(f"{p.pid}:{p.name}:{byte_size(p.used_memory_bytes, compact=True)}" for p in gpu.processes)
    return (host, gpu.index, gpu.name or MISSING, percent(utilization),
            f"{byte_size(gpu.memory_used_bytes)} / {byte_size(gpu.memory_total_bytes)}", temperature, power,
            processes)
