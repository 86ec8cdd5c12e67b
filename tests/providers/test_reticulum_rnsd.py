"""The Reticulum adapter against a real `rnsd` (rns, from the test extra) started here on loopback: counts and
names as plain `rnstatus` shows them, "down" while rnsd runs, no rnstatus left behind by a probe cut short on a
hung rnsd, the `config_dir` option and rns's default locations, and no probe that writes into HOME.

Each rnsd gets its own instance name (an abstract AF_UNIX socket), so parallel workers never meet."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from providers.adapters import build_adapter
from providers.adapters.reticulum import SYSTEM_CONFIG_DIR
from providers.adapters.rns_instance import is_listening, shared_instance
from providers.base import Adapter, AdapterOptions
from providers.health_policy import probe_health
from providers.monitor import HealthMonitor, MonitorPolicy
from tests.providers.rns_text_view import text_view_interfaces
from tests.waiting import HANG_S, bounded, wait_for_condition, wait_for_condition_sync

RNS_BIN = Path(sys.executable).parent
RNSD, RNSTATUS = RNS_BIN / "rnsd", RNS_BIN / "rnstatus"

pytestmark = pytest.mark.skipif(not (RNSD.is_file() and RNSTATUS.is_file()),
                                reason="rns is not installed here: pip install -e '.[test]'")


@dataclass
class Rnsd:
    config_dir: Path
    process: subprocess.Popen[bytes]
    dead_client: str
    """The name rnstatus shows for the TCPClientInterface to a port nobody listens on."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _write_config(config_dir: Path, *, server: bool, dead_port: int, tcp_instance: bool = False,
                  share: bool = True) -> None:
    config_dir.mkdir(parents=True)
    instance = (f"  shared_instance_type = tcp\n  shared_instance_port = {_free_port()}\n"
                f"  instance_control_port = {_free_port()}\n") if tcp_instance else ""
    server_section = (f"  [[Loopback TCP Server]]\n    type = TCPServerInterface\n    enabled = yes\n"
                      f"    listen_ip = 127.0.0.1\n    listen_port = {_free_port()}\n") if server else ""
    (config_dir / "config").write_text(
        f"[reticulum]\n  enable_transport = No\n  share_instance = {'Yes' if share else 'No'}\n{instance}"
        f"  instance_name = llmdeck-test-{uuid.uuid4().hex[:12]}\n  panic_on_interface_error = No\n"
        "[logging]\n  loglevel = 3\n"
        f"[interfaces]\n{server_section}"
        "  [[Dead Client]]\n    type = TCPClientInterface\n    enabled = yes\n"
        f"    target_host = 127.0.0.1\n    target_port = {dead_port}\n", encoding="utf-8")


def _rnstatus(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RNSTATUS), "--config", str(config_dir), *args], capture_output=True, text=True,
                          timeout=HANG_S, check=False)


def _listening(rnsd: Rnsd, log: Path) -> bool | None:
    if rnsd.process.poll() is not None:
        raise AssertionError(f"rnsd exited with {rnsd.process.returncode}: {log.read_text(errors='replace')}")
    return is_listening(shared_instance(rnsd.config_dir))


@pytest.fixture(scope="module")
def start_rnsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Rnsd]]:
    """Start an rnsd whose config has a TCP server on a free loopback port (unless `server=False`) and a TCP
    client to a port that refuses; returns once rnstatus gets its status. All are stopped at the end, a
    SIGSTOPped one included."""
    started: list[Rnsd] = []
    refusing: list[socket.socket] = []

    def start(*, server: bool = True, tcp_instance: bool = False) -> Rnsd:
        root = tmp_path_factory.mktemp("rnsd")
        dead = socket.socket()  # bound, never listening: a connect to it is refused, and no one else takes it
        dead.bind(("127.0.0.1", 0))
        refusing.append(dead)
        dead_port = dead.getsockname()[1]
        _write_config(root / "config", server=server, dead_port=dead_port, tcp_instance=tcp_instance)
        (root / "home").mkdir()
        log = root / "rnsd.log"
        with log.open("wb") as out:
            process = subprocess.Popen([str(RNSD), "--config", str(root / "config")], stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**os.environ, "HOME": str(root / "home")})
        rnsd = Rnsd(root / "config", process, f"TCPInterface[Dead Client/127.0.0.1:{dead_port}]")
        started.append(rnsd)
        # rnstatus run before rnsd holds its socket would take that socket and leave rnsd a broken client of it
        wait_for_condition_sync(lambda: _listening(rnsd, log), what="rnsd's shared instance to listen")
        wait_for_condition_sync(lambda: _rnstatus(rnsd.config_dir, "-j").returncode == 0,
                                what="rnsd to answer rnstatus")
        return rnsd

    yield start
    for rnsd in started:
        if rnsd.process.poll() is None:
            rnsd.process.send_signal(signal.SIGCONT)
            rnsd.process.terminate()
        try:
            rnsd.process.wait(timeout=HANG_S)
        except subprocess.TimeoutExpired:
            rnsd.process.kill()
            rnsd.process.wait()
    for dead in refusing:
        dead.close()


@pytest.fixture(scope="module")
def lab_rnsd(start_rnsd: Callable[..., Rnsd]) -> Rnsd:
    """One TCP server up, one TCP client down."""
    return start_rnsd()


@pytest.fixture(scope="module")
def hung_rnsd(start_rnsd: Callable[..., Rnsd]) -> Rnsd:
    rnsd = start_rnsd(server=False)
    rnsd.process.send_signal(signal.SIGSTOP)
    return rnsd


@pytest.fixture(autouse=True)
def rns_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{RNS_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def reticulum(client: httpx.AsyncClient, config_dir: Path | None, timeout_s: float = HANG_S) -> Adapter:
    options = AdapterOptions(name="mesh", base_url="", kind="reticulum", timeout_s=timeout_s,
                             config_dir=None if config_dir is None else str(config_dir))
    return build_adapter(options, client)


def files_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


def rnstatus_processes(config_dir: Path) -> list[int]:
    """Live rnstatus processes run against `config_dir` (a zombie has no cmdline, so it does not count)."""
    wanted = str(config_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        if wanted in argv and any(arg.endswith(b"rnstatus") for arg in argv):
            found.append(int(entry.name))
    return found


async def test_counts_and_names_match_rnstatus_own_text_view(lab_rnsd: Rnsd, client: httpx.AsyncClient) -> None:
    health = await probe_health(reticulum(client, lab_rnsd.config_dir), HANG_S)
    text_view = text_view_interfaces(_rnstatus(lab_rnsd.config_dir).stdout)
    up = tuple(name for name, is_up in text_view if is_up)
    assert len(text_view) == 3 and len(up) == 2  # the shared instance, the server; the dead client is down
    assert health.status == "degraded"
    assert health.detail == f"2/3 interfaces up · down: {lab_rnsd.dead_client}"
    assert health.models_loaded == up
    assert health.latency_ms is not None and health.latency_ms > 0


async def test_down_when_the_only_network_interface_is_down(start_rnsd: Callable[..., Rnsd],
                                                            client: httpx.AsyncClient) -> None:
    rnsd = start_rnsd(server=False)
    health = await probe_health(reticulum(client, rnsd.config_dir), HANG_S)
    assert [up for _, up in text_view_interfaces(_rnstatus(rnsd.config_dir).stdout)] == [True, False]
    assert health.status == "down"
    assert health.detail == f"1/2 interfaces up · no network interface is up: {rnsd.dead_client}"


@pytest.mark.parametrize("tcp_instance", [False, True])
async def test_no_rnsd_is_down_and_rnstatus_never_ran(tmp_path: Path, client: httpx.AsyncClient,
                                                      tcp_instance: bool) -> None:
    _write_config(tmp_path / "idle", server=False, dead_port=_free_port(), tcp_instance=tcp_instance)
    health = await probe_health(reticulum(client, tmp_path / "idle"), HANG_S)
    assert health.status == "down"
    assert health.detail.startswith("no shared RNS instance: is rnsd running? (nothing listens on ")
    # rnstatus would have made storage/ here (and held the instance's socket while it looked)
    assert files_under(tmp_path / "idle") == ["config"]


async def test_share_instance_off_is_down_without_running_rnstatus(tmp_path: Path,
                                                                   client: httpx.AsyncClient) -> None:
    _write_config(tmp_path / "alone", server=False, dead_port=_free_port(), share=False)
    health = await probe_health(reticulum(client, tmp_path / "alone"), HANG_S)
    assert (health.status, health.detail) == (
        "down", f"share_instance is off in {tmp_path / 'alone'}/config: rnstatus cannot reach that rnsd")
    assert files_under(tmp_path / "alone") == ["config"]


async def test_a_shared_instance_on_tcp_is_found_too(start_rnsd: Callable[..., Rnsd],
                                                    client: httpx.AsyncClient) -> None:
    rnsd = start_rnsd(tcp_instance=True)
    health = await probe_health(reticulum(client, rnsd.config_dir), HANG_S)
    assert health.detail == f"2/3 interfaces up · down: {rnsd.dead_client}"
    assert health.models_loaded[0].startswith("Shared Instance[")


@pytest.mark.parametrize("cut", ["task.cancel()", "the monitor's probe cut-off", "the adapter's timeout"])
async def test_a_probe_cut_short_on_a_hung_rnsd_leaves_no_rnstatus_running(
        hung_rnsd: Rnsd, client: httpx.AsyncClient, cut: str) -> None:
    config_dir = hung_rnsd.config_dir
    assert rnstatus_processes(config_dir) == []
    if cut == "task.cancel()":
        probe = asyncio.create_task(probe_health(reticulum(client, config_dir), HANG_S))
        await wait_for_condition(lambda: rnstatus_processes(config_dir), what="rnstatus to start")
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(probe, what="the cancelled probe")
    elif cut == "the monitor's probe cut-off":
        monitor = HealthMonitor({"mesh": reticulum(client, config_dir)}, MonitorPolicy(probe_timeout_s=1.0))
        health = await bounded(monitor.probe("mesh"), what="the monitor's probe")
        assert (health.status, health.detail) == ("down", "no answer within 1s")
    else:
        health = await bounded(probe_health(reticulum(client, config_dir, timeout_s=1.0), HANG_S), what="the probe")
        assert (health.status, health.detail) == ("down", "rnstatus gave no answer within 1s")
    await wait_for_condition(lambda: not rnstatus_processes(config_dir), what="no rnstatus left running")


@pytest.mark.parametrize("where", [".config/reticulum", ".reticulum"])
async def test_without_config_dir_rns_default_locations_are_used(
        lab_rnsd: Rnsd, isolated_home: Path, client: httpx.AsyncClient, where: str) -> None:
    if (SYSTEM_CONFIG_DIR / "config").is_file():
        pytest.skip(f"{SYSTEM_CONFIG_DIR} holds a config: rns (and the adapter) would use it first")
    default = isolated_home / where
    default.parent.mkdir(parents=True, exist_ok=True)
    default.symlink_to(lab_rnsd.config_dir, target_is_directory=True)
    health = await probe_health(reticulum(client, None), HANG_S)
    assert health.detail == f"2/3 interfaces up · down: {lab_rnsd.dead_client}"


async def test_no_config_anywhere_is_down_and_home_stays_empty(isolated_home: Path,
                                                               client: httpx.AsyncClient) -> None:
    if (SYSTEM_CONFIG_DIR / "config").is_file():
        pytest.skip(f"{SYSTEM_CONFIG_DIR} holds a config: rns (and the adapter) would use it")
    assert os.environ["HOME"] == str(isolated_home) and files_under(isolated_home) == []
    health = await probe_health(reticulum(client, None), HANG_S)
    assert health.status == "down"
    assert "set config_dir" in health.detail and "~/.reticulum" in health.detail
    assert files_under(isolated_home) == []


async def test_a_config_dir_without_a_config_is_left_untouched(tmp_path: Path, client: httpx.AsyncClient) -> None:
    empty = tmp_path / "not-yet-reticulum"
    empty.mkdir()
    health = await probe_health(reticulum(client, empty), HANG_S)
    assert health.status == "down"
    assert health.detail.startswith(f"no Reticulum config in {empty} (config_dir)")
    assert files_under(empty) == []


async def test_no_rnstatus_on_path_says_how_to_get_it(lab_rnsd: Rnsd, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      client: httpx.AsyncClient) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    health = await probe_health(reticulum(client, lab_rnsd.config_dir), HANG_S)
    assert health.status == "down" and "install Reticulum" in health.detail
