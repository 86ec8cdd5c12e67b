"""Real keyrings for tests: a private D-Bus bus with gnome-keyring's Secret Service, and an in-memory backend."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from config.throwaway_keyring import ThrowawayKeyring

SECRET_SERVICE_BUS_NAME = "org.freedesktop.secrets"
REQUIRED_BINARIES = ("dbus-daemon", "dbus-run-session", "gnome-keyring-daemon")
LLMDECK = Path(sys.executable).parent / "llmdeck"


MemoryKeyring = ThrowawayKeyring
"""The product's own in-memory backend serves the tests too."""


def missing_binaries() -> list[str]:
    """The programs a real Secret Service needs that are not on PATH."""
    return [name for name in REQUIRED_BINARIES if shutil.which(name) is None]


@dataclass(frozen=True)
class SecretServiceSession:
    """Everything under `root` (HOME, XDG dirs, the bus socket, daemon logs); `env` reaches the running service."""

    root: Path
    home: Path
    env: dict[str, str]


def base_env(root: Path) -> dict[str, str]:
    """A clean environment with HOME and every XDG dir under `root` (nothing inherited but PATH)."""
    home = root / "home"
    runtime = root / "run"
    for folder in (home, runtime, root / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "LLMDECK_DATA_DIR": str(home / "data"),
    }


@contextmanager
def secret_service(
    root: Path, *, password: str = "login-password", timeout_s: float = 30.0
) -> Iterator[SecretServiceSession]:
    """Start dbus-daemon and `gnome-keyring-daemon --unlock` (login keyring unlocked), yield, then stop both."""
    env = base_env(root)
    started: list[subprocess.Popen[bytes]] = []
    logs = [(root / "logs" / "dbus.log").open("wb"), (root / "logs" / "gnome-keyring.log").open("wb")]
    try:
        socket = Path(env["XDG_RUNTIME_DIR"]) / "bus"
        bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--print-address=1", f"--address=unix:path={socket}"],
            stdout=subprocess.PIPE,
            stderr=logs[0],
            env=env,
            start_new_session=True,  # its own process group: teardown also reaches services it activated
        )
        started.append(bus)
        env["DBUS_SESSION_BUS_ADDRESS"] = _read_bus_address(bus, timeout_s)
        keyring_daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=logs[1],
            env=env,
            start_new_session=True,
        )
        started.append(keyring_daemon)
        assert keyring_daemon.stdin is not None
        keyring_daemon.stdin.write(password.encode())  # --unlock reads the login password from stdin until EOF
        keyring_daemon.stdin.close()
        _wait_for_bus_name(env["DBUS_SESSION_BUS_ADDRESS"], SECRET_SERVICE_BUS_NAME, timeout_s)
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
        yield SecretServiceSession(root=root, home=Path(env["HOME"]), env=env)
    finally:
        for process in reversed(started):
            _stop(process)
        for log in logs:
            log.close()


def _read_bus_address(bus: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert bus.stdout is not None
    ready, _, _ = select.select([bus.stdout], [], [], timeout_s)
    line = bus.stdout.readline().decode().strip() if ready else ""
    if not line:
        raise RuntimeError(f"dbus-daemon printed no address within {timeout_s} s")
    return line


def _wait_for_bus_name(address: str, name: str, timeout_s: float) -> None:
    """Poll NameHasOwner until `name` is on the bus (bounded), so no client triggers a second, activated daemon."""
    from jeepney import DBus
    from jeepney.io.blocking import open_dbus_connection

    pause = threading.Event()
    deadline = time.monotonic() + timeout_s
    with open_dbus_connection(bus=address) as connection:
        while time.monotonic() < deadline:
            reply = connection.send_and_get_reply(DBus().NameHasOwner(name), timeout=timeout_s)
            if reply.body[0]:
                return
            pause.wait(0.02)
    raise RuntimeError(f"{name} did not appear on the bus within {timeout_s} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL after 3 s; every wait is bounded."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            continue
        break
    with suppress(ProcessLookupError):  # stragglers left in the group (services the bus activated)
        os.killpg(process.pid, signal.SIGKILL)
    if process.stdout is not None:
        process.stdout.close()


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every regular file under `root` whose bytes contain `needle` (UTF-8)."""
    wanted = needle.encode()
    return [path for path in root.rglob("*") if path.is_file() and wanted in path.read_bytes()]
