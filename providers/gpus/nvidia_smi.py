"""GPU readings from `nvidia-smi`'s CSV queries, run on this machine or on the host through `ssh`.

Two queries, each one process (nvidia-smi answers one query kind per run):

    nvidia-smi --query-gpu=index,name,uuid,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw
               --format=csv,noheader,nounits
    nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv,noheader,nounits

With `nounits` the values are bare numbers: memory in MiB, power in W, temperature in °C, utilisation in %. A
value the board cannot give is `[N/A]` or `[Not Supported]`. Fields are separated by `, ` and never quoted, so a
name holding a comma splits into more fields: the extra ones are joined back into the name (the only free-text
field of each row). A failing driver makes nvidia-smi print one sentence and exit non-zero (9 when it cannot talk
to the driver); that sentence is the host's error.

Through ssh the argv is `ssh -o BatchMode=yes -o ConnectTimeout=N [-i FILE] -- DEST nvidia-smi …`: BatchMode
so a missing key fails at once instead of asking for a password nobody sees, `--` so a destination can never be
read as an option. The remote command is fixed text with no shell syntax in it.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Final

from config.schema import HostConfig
from providers.gpu_info import Gpu, GpuProcess, HostGpus
from providers.gpus import values
from providers.gpus.bounded_run import RunFailedError, RunOutput, run_bounded
from providers.gpus.outcome import NotThere, SourceResult, failed
from providers.safe_text import one_line

SOURCE: Final = "nvidia-smi"
GPU_FIELDS: Final = ("index", "name", "uuid", "utilization.gpu", "memory.used", "memory.total", "temperature.gpu",
                     "power.draw")
APP_FIELDS: Final = ("gpu_uuid", "pid", "process_name", "used_memory")
QUERY_GPUS: Final = ("nvidia-smi", f"--query-gpu={','.join(GPU_FIELDS)}", "--format=csv,noheader,nounits")
QUERY_APPS: Final = ("nvidia-smi", f"--query-compute-apps={','.join(APP_FIELDS)}", "--format=csv,noheader,nounits")

TIMEOUT_S: Final = 5.0
"""nvidia-smi answers in well under a second; a hung driver must not hold a reading longer."""
SSH_TIMEOUT_S: Final = 10.0
"""Through ssh: the connection (ConnectTimeout below) and the remote run together."""
SSH_CONNECT_TIMEOUT_S: Final = 5
MAX_OUTPUT_BYTES: Final = 1024 * 1024
"""A few hundred bytes per GPU or process: a megabyte is thousands of rows."""
MAX_LINE_CHARS: Final = 4096
"""A longer line is no row of these queries; it is skipped."""
MAX_GPUS: Final = 256
MAX_PROCESSES_PER_GPU: Final = 256
NO_DEVICES: Final = "No devices were found"


def ssh_argv(host: HostConfig, ssh: str = "ssh") -> list[str]:
    """The ssh command line up to and including the destination; the remote argv follows it."""
    assert host.ssh is not None
    identity = ["-i", host.identity_file] if host.identity_file else []
    return [ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT_S}", *identity, "--", host.ssh]


async def read_nvidia_smi(host: HostConfig, *, timeout_s: float | None = None) -> SourceResult:
    """The host's GPUs by nvidia-smi: run here when `host.ssh` is unset, else through ssh to it. Never raises
    for what the tool or the network does; the reading's `error` says it."""
    if host.ssh is not None:
        ssh = shutil.which("ssh")
        if ssh is None:
            return _failed(host, "ssh not found on this machine")
        command = [*ssh_argv(host, ssh), "nvidia-smi"]
        limit = SSH_TIMEOUT_S if timeout_s is None else timeout_s
    else:
        executable = shutil.which("nvidia-smi")
        if executable is None:
            return NotThere("nvidia-smi not found")
        command = [executable]
        limit = TIMEOUT_S if timeout_s is None else timeout_s
    gpu_argv, app_argv = [*command, *QUERY_GPUS[1:]], [*command, *QUERY_APPS[1:]]
    gpu_run, app_run = await asyncio.gather(_run(gpu_argv, limit), _run(app_argv, limit))
    if isinstance(gpu_run, str):
        return _failed(host, gpu_run)
    problem = _problem(host, gpu_run)
    if problem is not None:
        return problem
    gpus = parse_gpus(_text(gpu_run.stdout))
    if not gpus:
        if gpu_run.stdout.strip():
            return _failed(host, "nvidia-smi printed no GPU row llmdeck could read")
        return NotThere("nvidia-smi lists no GPU")
    # Processes are a detail: a failed listing leaves the GPUs without them rather than the host without GPUs.
    if not isinstance(app_run, str) and app_run.returncode == 0:
        gpus = attach_processes(gpus, parse_processes(_text(app_run.stdout)))
    return HostGpus(host=host.name, source=SOURCE, gpus=tuple(gpus), read_at=time.time())


async def _run(argv: Sequence[str], timeout_s: float) -> RunOutput | str:
    try:
        return await run_bounded(argv, timeout_s=timeout_s, max_bytes=MAX_OUTPUT_BYTES)
    except RunFailedError as exc:
        return str(exc)


def _failed(host: HostConfig, error: str) -> HostGpus:
    return failed(host.name, SOURCE, error)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _lines(data: bytes) -> list[str]:
    return [line.strip() for line in _text(data).splitlines() if line.strip()]


def _problem(host: HostConfig, run: RunOutput) -> SourceResult | None:
    """What a non-zero exit means: ssh could not connect (255), no nvidia-smi on the host (127), no GPU, or the
    driver's own one-line complaint."""
    if run.returncode == 0:
        return None
    said = _lines(run.stdout) + _lines(run.stderr)
    first = said[0] if said else ""
    if host.ssh is not None and run.returncode == 255:
        last = _lines(run.stderr)[-1:] or [f"exited with status {run.returncode}"]
        return _failed(host, f"ssh {host.ssh}: {last[0]}")
    if host.ssh is not None and run.returncode == 127:
        return NotThere(f"nvidia-smi not found on {one_line(host.ssh)}")
    if NO_DEVICES.lower() in first.lower():
        return NotThere(f"nvidia-smi: {NO_DEVICES}")
    return _failed(host, first or f"nvidia-smi exited with status {run.returncode}")


def _rows(text: str, width: int, free_at: int) -> Iterable[list[str]]:
    """The CSV rows of `text` with exactly `width` fields: surplus fields (a comma in the free-text field at
    `free_at`) are joined back into it; a row with too few fields, or an over-long line, is skipped."""
    lines = [line for line in text.splitlines() if line.strip() and len(line) <= MAX_LINE_CHARS]
    for fields in csv.reader(lines, skipinitialspace=True, quoting=csv.QUOTE_NONE):
        if len(fields) < width:
            continue
        extra = len(fields) - width
        if extra:
            fields = [*fields[:free_at], ", ".join(fields[free_at:free_at + extra + 1]),
                      *fields[free_at + extra + 1:]]
        yield [field.strip() for field in fields]


def parse_gpus(text: str) -> list[Gpu]:
    """The rows of the `--query-gpu` output above; a row whose index is not a GPU index is skipped."""
    gpus: list[Gpu] = []
    for index, name, uuid, util, used, total, temp, draw in _rows(text, len(GPU_FIELDS), 1):
        number = values.whole(values.number_from_text(index), 0, values.MAX_INDEX)
        if number is None:
            continue
        gpus.append(Gpu(
            index=number, name=values.label(name) or "", uuid=values.label(uuid),
            utilization_pct=values.utilization(values.number_from_text(util)),
            memory_used_bytes=values.mib_to_bytes(values.number_from_text(used)),
            memory_total_bytes=values.mib_to_bytes(values.number_from_text(total)),
            temperature_c=values.temperature(values.number_from_text(temp)),
            power_w=values.power(values.number_from_text(draw)),
        ))
        if len(gpus) >= MAX_GPUS:
            break
    return gpus


def parse_processes(text: str) -> list[tuple[str, GpuProcess]]:
    """(gpu uuid, process) for each row of the `--query-compute-apps` output above."""
    found: list[tuple[str, GpuProcess]] = []
    for uuid, pid, name, used in _rows(text, len(APP_FIELDS), 2):
        gpu = values.label(uuid)
        number = values.whole(values.number_from_text(pid), 1, values.MAX_PID)
        if gpu is None or number is None:
            continue
        found.append((gpu, GpuProcess(pid=number, name=values.label(name) or "",
                                      used_memory_bytes=values.mib_to_bytes(values.number_from_text(used)))))
    return found


def attach_processes(gpus: Sequence[Gpu], processes: Iterable[tuple[str, GpuProcess]]) -> list[Gpu]:
    """Each GPU with the processes listed under its uuid (at most MAX_PROCESSES_PER_GPU)."""
    by_uuid: dict[str, list[GpuProcess]] = {}
    for uuid, process in processes:
        listed = by_uuid.setdefault(uuid, [])
        if len(listed) < MAX_PROCESSES_PER_GPU:
            listed.append(process)
    return [replace(gpu, processes=tuple(by_uuid.get(gpu.uuid or "", ()))) for gpu in gpus]
