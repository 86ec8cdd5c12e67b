"""`llmdeck gpus` as an operator runs it: the real command, with the nvidia-smi and ssh stand-ins on PATH and a
DCGM exporter on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from tests.providers.gpu_standins import DCGM_METRICS, DRIVER_ERROR, MIB, UUID_4090, install_standins, path_with

LLMDECK = [sys.executable, "-m", "console.cli"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exporter() -> Iterator[EmulatorServer]:
    app = Starlette(routes=[Route("/metrics", lambda _: PlainTextResponse(DCGM_METRICS))])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        yield server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The command's environment: the stand-ins first on PATH, for ops@box2."""
    bin_dir = install_standins(tmp_path / "bin")
    return {**os.environ, "PATH": path_with(bin_dir), "GPU_STANDIN_MODE": "lab", "GPU_STANDIN_SSH_DEST": "ops@box2"}


def write_config(tmp_path: Path, hosts: list[dict[str, Any]]) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"hosts": hosts}), encoding="utf-8")
    return path


@pytest.fixture
def lab_config(tmp_path: Path, exporter: EmulatorServer) -> Path:
    return write_config(tmp_path, [
        {"name": "local", "gpus": "nvidia-smi"},
        {"name": "box2", "ssh": "ops@box2", "gpus": "nvidia-smi"},
        {"name": "box3", "address": "10.0.0.3", "dcgm_url": f"{exporter.url}/metrics"},
        {"name": "far", "address": "10.0.0.9"},
    ])


def run(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LLMDECK, "gpus", *args], capture_output=True, text=True,
                          env={**env, "LLMDECK_CONFIG": str(config)}, cwd=ROOT, timeout=120, check=False)


def test_json_lists_every_host_and_gpu(lab_config: Path, env: dict[str, str]) -> None:
    result = run(lab_config, env, "--json")
    assert result.returncode == 0, result.stderr
    hosts = {entry["host"]: entry for entry in json.loads(result.stdout)}
    assert list(hosts) == ["local", "box2", "box3", "far"]
    assert [(h["source"], len(h["gpus"])) for h in hosts.values()] == [
        ("nvidia-smi", 3), ("nvidia-smi", 3), ("dcgm", 2), ("none", 0)]
    rtx = hosts["box2"]["gpus"][0]
    assert rtx == {
        "index": 0, "name": "NVIDIA GeForce RTX 4090", "uuid": UUID_4090, "utilization_pct": 100.0,
        "memory_used_bytes": 23028 * MIB, "memory_total_bytes": 24564 * MIB, "temperature_c": 83.0,
        "power_w": 437.12,
        "processes": [{"pid": 4242, "name": "/usr/bin/python3", "used_memory_bytes": 22000 * MIB},
                      {"pid": 5151, "name": "ollama_llama_server", "used_memory_bytes": 1010 * MIB}],
    }
    assert hosts["box2"]["gpus"][1]["power_w"] is None  # [N/A]
    assert hosts["far"]["error"] == "no GPU (no ssh or dcgm_url to read it by)"


def test_table_has_a_row_per_gpu_and_says_why_a_host_has_none(lab_config: Path, env: dict[str, str]) -> None:
    result = run(lab_config, env)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert lines[0] == ["host", "gpu", "name", "util", "memory", "temp", "power", "processes"]
    by_host = [(cells[0], cells[1]) for cells in lines[1:]]
    assert by_host == [("local", "0"), ("local", "1"), ("local", "2"), ("box2", "0"), ("box2", "1"), ("box2", "2"),
                       ("box3", "0"), ("box3", "1"), ("far", "—")]
    rtx = lines[1]
    assert rtx[2:] == ["NVIDIA GeForce RTX 4090", "100%", "22.5 GiB / 24.0 GiB", "83 °C", "437.1 W",
                       "4242:/usr/bin/python3:21.5G, 5151:ollama_llama_server:1,010M"]
    assert lines[2][6] == "—"  # the A100's [N/A] power
    assert lines[-1][2] == "no GPU (no ssh or dcgm_url to read it by)"


def test_one_host(lab_config: Path, env: dict[str, str]) -> None:
    result = run(lab_config, env, "--host", "box3", "--json")
    assert result.returncode == 0, result.stderr
    (box3,) = json.loads(result.stdout)
    assert box3["host"] == "box3" and [gpu["utilization_pct"] for gpu in box3["gpus"]] == [100.0, 3.0]


def test_an_unknown_host_is_a_usage_error_with_the_nearest_name(lab_config: Path, env: dict[str, str]) -> None:
    result = run(lab_config, env, "--host", "bx2")
    assert result.returncode == 2
    assert result.stderr == "llmdeck: unknown host 'bx2' — did you mean box2?\n"
    assert result.stdout == ""


def test_a_driver_error_is_its_hosts_row_and_fails_only_when_every_host_failed(
        tmp_path: Path, lab_config: Path, env: dict[str, str]) -> None:
    broken = {**env, "GPU_STANDIN_MODE": "driver-error"}
    some = run(lab_config, broken)
    assert some.returncode == 0, some.stderr  # box3's exporter still answers, far has no GPU
    rows = [line.split("\t") for line in some.stdout.splitlines()[1:]]
    assert rows[0][:3] == ["local", "—", DRIVER_ERROR]
    assert rows[1][:3] == ["box2", "—", DRIVER_ERROR]
    only_broken = write_config(tmp_path, [{"name": "local", "gpus": "nvidia-smi"},
                                          {"name": "box2", "ssh": "ops@box2", "gpus": "nvidia-smi"}])
    every = run(only_broken, broken, "--json")
    assert every.returncode == 1
    assert [entry["error"] for entry in json.loads(every.stdout)] == [DRIVER_ERROR, DRIVER_ERROR]


def test_without_hosts_the_local_machine_is_read(tmp_path: Path, env: dict[str, str]) -> None:
    bare_path = {**env, "PATH": os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                                 if not Path(p, "nvidia-smi").exists())}
    result = run(write_config(tmp_path, []), bare_path, "--json")
    assert result.returncode == 0, result.stderr
    (local,) = json.loads(result.stdout)
    assert local["host"] == "local"
    if local["source"] == "none":  # a machine with NVIDIA GPUs reads them through NVML instead
        assert local["error"] == "no GPU (nvidia-smi not found)"
