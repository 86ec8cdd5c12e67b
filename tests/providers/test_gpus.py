"""GPU readings from real processes and a real HTTP exporter: the nvidia-smi and ssh stand-ins on PATH
(tests/providers/gpu_standins.py), a DCGM exporter's text served over loopback, and the Deck's poller."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from config.schema import DeckConfig, HostConfig
from providers.deck import Deck
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.gpu_info import HostGpus
from providers.gpu_monitor import GpuMonitor, UnknownGpuHostError
from providers.gpus import nvml
from providers.gpus.dcgm import parse_dcgm, read_dcgm
from providers.gpus.nvidia_smi import read_nvidia_smi
from providers.gpus.outcome import NotThere
from providers.gpus.reader import LOCAL_HOST, gpu_hosts, is_local, read_host_gpus
from providers.http import make_client
from tests.providers.gpu_standins import (
    DCGM_METRICS,
    DRIVER_ERROR,
    MIB,
    UUID_4090,
    UUID_A100,
    UUID_T4,
    install_standins,
    path_with,
)
from tests.waiting import wait_for_condition

LOCAL = HostConfig(name="local", gpus="nvidia-smi")
BOX2 = HostConfig(name="box2", ssh="ops@box2", identity_file="/keys/id_box2", gpus="nvidia-smi")


@pytest.fixture
def standins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-ins first on PATH, in `lab` mode, for ops@box2 with its identity file; returns the temp dir."""
    bin_dir = install_standins(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(bin_dir))
    monkeypatch.setenv("GPU_STANDIN_MODE", "lab")
    monkeypatch.setenv("GPU_STANDIN_SSH_DEST", "ops@box2")
    monkeypatch.setenv("GPU_STANDIN_SSH_IDENTITY", "/keys/id_box2")
    monkeypatch.setenv("GPU_STANDIN_SSH_LOG", str(tmp_path / "ssh.log"))
    monkeypatch.setenv("GPU_STANDIN_PIDS", str(tmp_path / "pids"))
    return tmp_path


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as shared:
        yield shared


def _flood(_: Request) -> Response:
    chunk = b"DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"} 1\n" * 32768  # ~1 MiB
    return StreamingResponse(iter([chunk] * 10), media_type="text/plain")


@pytest.fixture
def exporter() -> Iterator[EmulatorServer]:
    """A DCGM exporter on loopback: /metrics as dcgm-exporter prints it, /flood 10 MiB, /broken a 500."""
    app = Starlette(routes=[
        Route("/metrics", lambda _: PlainTextResponse(DCGM_METRICS, media_type="text/plain; version=0.0.4")),
        Route("/flood", _flood),
        Route("/broken", lambda _: PlainTextResponse("exporter failed", status_code=500)),
    ])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        yield server


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def nvml_absent() -> bool:
    """Whether NVML cannot start here (no library or no driver), as on a machine without NVIDIA GPUs."""
    return isinstance(await nvml.read_nvml("local"), NotThere)


def pids(standins: Path) -> list[int]:
    path = standins / "pids"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


# --- nvidia-smi, here and through ssh ---------------------------------------------------------------------


async def test_nvidia_smi_reads_every_gpu_in_the_real_csv_format(standins: Path) -> None:
    reading = await read_nvidia_smi(LOCAL)
    assert isinstance(reading, HostGpus) and reading.error is None
    assert (reading.host, reading.source) == ("local", "nvidia-smi")
    rtx, a100, t4 = reading.gpus
    assert (rtx.index, rtx.name, rtx.uuid) == (0, "NVIDIA GeForce RTX 4090", UUID_4090)
    assert rtx.utilization_pct == 100.0
    assert (rtx.memory_used_bytes, rtx.memory_total_bytes) == (23028 * MIB, 24564 * MIB)
    assert (rtx.temperature_c, rtx.power_w) == (83.0, 437.12)
    assert a100.power_w is None and a100.utilization_pct == 0.0  # [N/A] is unknown; 0 % is a reading
    assert t4.temperature_c is None and t4.power_w == 27.83  # [Not Supported]
    assert [(p.pid, p.name, p.used_memory_bytes) for p in rtx.processes] == [
        (4242, "/usr/bin/python3", 22000 * MIB), (5151, "ollama_llama_server", 1010 * MIB)]
    assert a100.processes == ()
    assert [(p.pid, p.used_memory_bytes) for p in t4.processes] == [(6161, None)]
    assert reading.memory_free_bytes == (24564 - 23028 + 81920 - 4 + 15360 - 1057) * MIB


async def test_a_driver_error_is_the_hosts_one_line_error(standins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "driver-error")
    reading = await read_nvidia_smi(LOCAL)
    assert isinstance(reading, HostGpus)
    assert reading.gpus == () and reading.error == DRIVER_ERROR and reading.failed


async def test_ssh_runs_nvidia_smi_on_the_host_with_batch_mode_and_its_key(standins: Path) -> None:
    reading = await read_nvidia_smi(BOX2)
    assert isinstance(reading, HostGpus) and reading.error is None, reading
    assert reading.host == "box2" and [gpu.uuid for gpu in reading.gpus] == [UUID_4090, UUID_A100, UUID_T4]
    assert reading.gpus[0].processes[0].pid == 4242
    calls = (standins / "ssh.log").read_text().splitlines()
    assert len(calls) == 2  # the GPU query and the compute apps
    for call in calls:
        argv = call.split("\t")
        assert argv[:8] == ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-i", "/keys/id_box2", "--",
                            "ops@box2"]
        assert argv[8] == "nvidia-smi"


async def test_an_unreachable_ssh_host_says_what_ssh_said(standins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_SSH_MODE", "refuse")
    reading = await read_nvidia_smi(BOX2)
    assert isinstance(reading, HostGpus)
    assert reading.error == "ssh ops@box2: ssh: connect to host ops@box2 port 22: Connection refused"


async def test_missing_nvidia_smi_means_no_gpu_not_an_error(standins: Path, monkeypatch: pytest.MonkeyPatch,
                                                            client: httpx.AsyncClient) -> None:
    (standins / "bin" / "nvidia-smi").unlink()
    if not await nvml_absent():
        pytest.skip("this machine has NVML and GPUs: auto reads them before nvidia-smi")
    reading = await read_host_gpus(HostConfig(name="local"), client)
    assert (reading.source, reading.error, reading.failed) == ("none", "no GPU (nvidia-smi not found)", False)
    monkeypatch.setenv("GPU_STANDIN_SSH_MODE", "no-smi")
    remote = await read_host_gpus(HostConfig(name="box2", ssh="ops@box2", identity_file="/keys/id_box2"), client)
    assert (remote.source, remote.error) == ("none", "no GPU (nvidia-smi not found on ops@box2)")


async def test_auto_falls_through_a_failed_nvml_to_nvidia_smi(standins: Path, client: httpx.AsyncClient) -> None:
    if not await nvml_absent():
        pytest.skip("NVML starts on this machine: nothing to fall through")
    reading = await read_host_gpus(HostConfig(name="local"), client)
    assert reading.source == "nvidia-smi" and len(reading.gpus) == 3


async def test_no_devices_is_no_gpu(standins: Path, monkeypatch: pytest.MonkeyPatch,
                                    client: httpx.AsyncClient) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "no-devices")
    reading = await read_host_gpus(HostConfig(name="box2", ssh="ops@box2", identity_file="/keys/id_box2"), client)
    assert (reading.source, reading.error) == ("none", "no GPU (nvidia-smi: No devices were found)")


async def test_escape_sequences_in_names_are_removed(standins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "escapes")
    reading = await read_nvidia_smi(LOCAL)
    assert isinstance(reading, HostGpus)
    (gpu,) = reading.gpus
    assert gpu.name == "RTX 4090"
    assert gpu.processes[0].name == "evil"


async def test_nonsense_numbers_and_broken_rows_are_unknown_never_made_up(standins: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "nonsense")
    reading = await read_nvidia_smi(LOCAL)
    assert isinstance(reading, HostGpus) and reading.error is None
    first, second = reading.gpus  # "x", "too short" and "-1" rows are no GPU
    assert (first.utilization_pct, first.memory_used_bytes, first.memory_total_bytes) == (None, None, 24576 * MIB)
    assert (first.temperature_c, first.power_w) == (None, None)
    assert (second.utilization_pct, second.memory_used_bytes, second.memory_total_bytes) == (None, None, None)
    assert (second.temperature_c, second.power_w) == (None, None)
    assert [(p.pid, p.name, p.used_memory_bytes) for p in first.processes] == [(99, "ok", None)]


async def test_a_comma_and_quotes_in_a_name_stay_in_the_name(standins: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "comma-name")
    reading = await read_nvidia_smi(LOCAL)
    assert isinstance(reading, HostGpus)
    (gpu,) = reading.gpus
    assert (gpu.name, gpu.uuid, gpu.utilization_pct, gpu.power_w) == ('NVIDIA RTX, "Special" Edition', UUID_T4,
                                                                     12.0, 50.5)


async def test_ten_megabytes_of_output_are_refused_and_the_tool_killed(standins: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "flood")
    reading = await read_nvidia_smi(LOCAL)
    assert isinstance(reading, HostGpus)
    assert reading.error == "nvidia-smi printed more than 1024 KiB" and reading.gpus == ()
    await wait_for_condition(lambda: not any(alive(pid) for pid in pids(standins)), what="the flood killed")


async def test_a_tool_that_never_ends_is_killed_at_its_deadline(standins: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "hang")
    reading = await read_nvidia_smi(LOCAL, timeout_s=1.0)
    assert isinstance(reading, HostGpus)
    assert reading.error == "nvidia-smi gave no answer within 1 s" and reading.gpus == ()
    await wait_for_condition(lambda: not any(alive(pid) for pid in pids(standins)), what="the hung tools killed")


async def test_a_cancelled_reading_over_ssh_kills_the_remote_side_too(standins: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "hang")
    task = asyncio.create_task(read_nvidia_smi(BOX2, timeout_s=600))
    # The stand-in nvidia-smi runs as the ssh stand-in's child, as the remote side is ssh's business.
    await wait_for_condition(lambda: len(pids(standins)) == 2, what="both queries running behind ssh")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for_condition(lambda: not any(alive(pid) for pid in pids(standins)), what="the whole group killed")


# --- DCGM exporter ----------------------------------------------------------------------------------------


async def test_dcgm_exporter_metrics_over_http(exporter: EmulatorServer, client: httpx.AsyncClient) -> None:
    host = HostConfig(name="box3", address="10.0.0.3", dcgm_url=f"{exporter.url}/metrics")
    reading = await read_host_gpus(host, client)  # auto: not this machine, no ssh, so the exporter
    assert (reading.source, reading.error) == ("dcgm", None)
    first, second = reading.gpus
    assert (first.index, first.name, first.uuid) == (0, "NVIDIA L4", "GPU-c2f76b33-7953-256e-8f33-1343419b1a1c")
    assert (first.utilization_pct, first.temperature_c, first.power_w) == (100.0, 45.0, 34.156)
    assert first.memory_used_bytes == 21000 * MIB
    assert first.memory_total_bytes == (21000 + 1563 + 460) * MIB
    assert (second.index, second.temperature_c, second.power_w) == (1, None, None)  # NaN, negative
    assert first.processes == ()


async def test_auto_goes_on_to_the_exporter_when_the_driver_fails(standins: Path, monkeypatch: pytest.MonkeyPatch,
                                                                exporter: EmulatorServer,
                                                                client: httpx.AsyncClient) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "driver-error")
    host = HostConfig(name="box2", ssh="ops@box2", identity_file="/keys/id_box2", dcgm_url=f"{exporter.url}/metrics")
    reading = await read_host_gpus(host, client)
    assert (reading.source, reading.error, len(reading.gpus)) == ("dcgm", None, 2)
    exporter.stop()
    both_down = await read_host_gpus(host, client)
    assert both_down.failed and both_down.error is not None
    assert both_down.error.startswith(f"nvidia-smi: {DRIVER_ERROR}; dcgm: DCGM exporter: ")


async def test_dcgm_failures_are_the_readings_error(exporter: EmulatorServer, client: httpx.AsyncClient) -> None:
    broken = await read_dcgm("box3", f"{exporter.url}/broken", client)
    assert isinstance(broken, HostGpus) and broken.error is not None and "HTTP 500" in broken.error
    flood = await read_dcgm("box3", f"{exporter.url}/flood", client)
    assert isinstance(flood, HostGpus) and flood.error is not None and "larger than" in flood.error
    exporter.stop()
    down = await read_dcgm("box3", f"{exporter.url}/metrics", client)
    assert isinstance(down, HostGpus) and down.failed and down.gpus == ()


def test_dcgm_text_with_hostile_labels_and_broken_lines() -> None:
    text = ('DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-x",modelName="\x1b]0;owned\x07L4\x1b[31m"} 12\n'
            'DCGM_FI_DEV_GPU_UTIL{gpu="x"} 5\n'
            'DCGM_FI_DEV_GPU_UTIL{gpu="2" 5\n'
            'DCGM_FI_DEV_GPU_TEMP{gpu="0"} +Inf\n'
            'DCGM_FI_DEV_FB_USED{gpu="0"} 10\n')
    (gpu,) = parse_dcgm(text)
    assert (gpu.name, gpu.uuid, gpu.utilization_pct, gpu.temperature_c) == ("L4", "GPU-x", 12.0, None)
    assert (gpu.memory_used_bytes, gpu.memory_total_bytes) == (10 * MIB, None)  # no FB_FREE: no total


# --- which source for which host ----------------------------------------------------------------------------


def test_hosts_and_which_is_this_machine() -> None:
    assert [h.name for h in gpu_hosts(DeckConfig())] == [LOCAL_HOST]
    assert [h.name for h in gpu_hosts(DeckConfig(hosts=(BOX2,)))] == ["box2"]
    assert is_local(HostConfig(name="a")) and is_local(HostConfig(name="a", address="127.0.0.1"))
    assert not is_local(HostConfig(name="a", address="10.0.0.2"))
    assert not is_local(HostConfig(name="a", ssh="ops@localhost"))


async def test_a_remote_host_without_ssh_or_exporter_has_no_gpu_source(standins: Path,
                                                                       client: httpx.AsyncClient) -> None:
    reading = await read_host_gpus(HostConfig(name="far", address="10.0.0.9"), client)
    assert (reading.source, reading.error) == ("none", "no GPU (no ssh or dcgm_url to read it by)")
    assert not (standins / "pids").exists()  # nvidia-smi here would have shown this machine's GPUs as far's
    named = await read_host_gpus(HostConfig(name="far", address="10.0.0.9", gpus="nvidia-smi"), client)
    assert named.failed and named.error is not None and "ssh" in named.error
    off = await read_host_gpus(HostConfig(name="far", gpus="none"), client)
    assert (off.source, off.failed) == ("none", False)


# --- the poller and the Deck ----------------------------------------------------------------------------------


async def test_one_read_of_a_host_at_a_time(standins: Path, monkeypatch: pytest.MonkeyPatch,
                                            client: httpx.AsyncClient) -> None:
    monkeypatch.setenv("GPU_STANDIN_MODE", "hang")
    monitor = GpuMonitor(lambda: DeckConfig(hosts=(LOCAL,)), client, timeout_s=600)
    first = asyncio.create_task(monitor.read("local"))
    second = asyncio.create_task(monitor.read())
    monitor.start()
    await wait_for_condition(lambda: len(pids(standins)) == 2, what="one read's two queries")
    assert monitor.latest() == {}
    await monitor.stop()  # ends the hung read, and the readers waiting on it with it
    assert len(pids(standins)) == 2  # the second read and the poller's joined the first
    for task in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await task
    await wait_for_condition(lambda: not any(alive(pid) for pid in pids(standins)), what="the hung tools killed")


async def test_unknown_host_names_the_nearest(client: httpx.AsyncClient) -> None:
    monitor = GpuMonitor(lambda: DeckConfig(hosts=(BOX2,)), client)
    with pytest.raises(UnknownGpuHostError, match="did you mean box2"):
        await monitor.read("box3")


async def test_the_deck_polls_gpus_while_its_monitor_runs(standins: Path, tmp_path: Path) -> None:
    config = DeckConfig(hosts=(LOCAL, BOX2, HostConfig(name="off", gpus="none")))
    deck = Deck(config, tmp_path / "data")
    assert deck.gpus() == {}
    await deck.start()
    try:
        await wait_for_condition(lambda: len(deck.gpus()) == 3, what="every host read by the poller")
        latest = deck.gpus()
        assert list(latest) == ["local", "box2", "off"]
        assert len(latest["local"].gpus) == 3 and len(latest["box2"].gpus) == 3
        assert latest["off"].source == "none"
        now = await deck.read_gpus("box2")
        assert list(now) == ["box2"] and now["box2"].read_at >= latest["box2"].read_at
    finally:
        await deck.stop()
    assert not deck.gpu_monitor.polling


async def test_a_deck_without_its_monitor_reads_only_when_asked(standins: Path, tmp_path: Path) -> None:
    deck = Deck(DeckConfig(hosts=(LOCAL,)), tmp_path / "data")
    await deck.start(monitor=False)
    try:
        assert not deck.gpu_monitor.polling
        readings = await deck.read_gpus()
        assert readings["local"].gpus[0].utilization_pct == 100.0
        assert deck.gpus() == readings
    finally:
        await deck.stop()
