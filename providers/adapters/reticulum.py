"""Reticulum (RNS) health from `rnstatus --config DIR -j` (PROTOCOLS.md §10.7): RNS has no HTTP API, so the
adapter runs the status tool of the local shared instance, bounded by the provider's timeout, and reads its JSON
(rnstatus_parse.py).

Exit code 1 means no shared instance (rnsd is not running), 2 that the status call failed.

rnstatus is never run without an existing Reticulum config: pointed at a directory with none, it writes a
default one there (with AutoInterface on) — a health probe must not set up a mesh node in the user's home. Nor
is it run while no shared instance listens: it would briefly take the instance's socket (rns_instance.py). The
child runs in its own session and is killed with its group on every way out of a probe without its answer (the
timeout, the caller's cancellation), so a hung rnsd never leaves rnstatus processes behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path

from providers.adapters.rns_instance import is_listening, shared_instance
from providers.adapters.rnstatus_parse import health_from_rnstatus_json
from providers.base import Adapter, Capabilities, Health, ModelInfo
from providers.safe_text import one_line

RNSTATUS = "rnstatus"
SYSTEM_CONFIG_DIR = Path("/etc/reticulum")
_EXIT_MEANINGS = {1: "no shared RNS instance: is rnsd running?", 2: "rnstatus could not get the RNS status"}
_MAX_OUTPUT_BYTES = 4 * 1024 * 1024
"""`-j` is about 1.5 KiB per interface: a node with thousands of peers still fits."""
_REAP_S = 5.0
"""How long to wait for a killed child to be reaped; SIGKILL makes this immediate in practice."""


def default_config_dirs() -> tuple[Path, ...]:
    """Where rns itself looks when given no `--config`, in its order (rns 1.5.7 `Reticulum.__init__`)."""
    home = Path.home()
    return SYSTEM_CONFIG_DIR, home / ".config" / "reticulum", home / ".reticulum"


def config_dir_to_use(configured: str | None) -> Path | str:
    """The directory to pass as `--config`, or why there is none (a one-line detail for a down Health).

    rns checks `/etc/reticulum` and `~/.config/reticulum` for a `config` file and otherwise uses (and creates)
    `~/.reticulum`; here every candidate needs its `config` file, so no probe ever creates one.
    """
    if configured is not None:
        chosen = Path(configured)
        if (chosen / "config").is_file():
            return chosen
        return one_line(f"no Reticulum config in {chosen} (config_dir): point config_dir at rnsd's config "
                        "directory — rnstatus would create a default config there")
    for candidate in default_config_dirs():
        if (candidate / "config").is_file():
            return candidate
    return ("no Reticulum config in /etc/reticulum, ~/.config/reticulum or ~/.reticulum: set config_dir to "
            "rnsd's config directory, or set up Reticulum (run rnsd once)")


class ReticulumAdapter(Adapter):
    """Runs `rnstatus -j`; the interfaces that are up are listed where a model server lists its loaded models."""

    capabilities = Capabilities()

    async def health(self) -> Health:
        executable = shutil.which(RNSTATUS)
        if executable is None:
            return Health("down", detail="rnstatus not found on PATH — install Reticulum (`pipx install rns`)")
        config_dir = await asyncio.to_thread(_ready_config_dir, self.options.config_dir)
        if isinstance(config_dir, str):
            return Health("down", detail=config_dir)
        try:
            process = await asyncio.create_subprocess_exec(
                executable, "--config", str(config_dir), "-j", stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return Health("down", detail=one_line(f"could not run rnstatus: {exc}"))
        answered = False
        try:
            async with asyncio.timeout(self.options.timeout_s):
                out, err = await _communicate(process)
            answered = True
        except TimeoutError:
            return Health("down", detail=f"rnstatus gave no answer within {self.options.timeout_s:g}s")
        finally:
            if not answered:
                await _kill_and_reap(process)
        if len(out) > _MAX_OUTPUT_BYTES:
            return Health("down", detail=f"rnstatus -j printed more than {_MAX_OUTPUT_BYTES // 2**20} MiB")
        if process.returncode != 0:
            lines = err[-4096:].decode("utf-8", "replace").strip().splitlines()
            said = one_line(lines[-1])[:160] if lines else ""
            meaning = _EXIT_MEANINGS.get(process.returncode or 0, f"rnstatus exited with {process.returncode}")
            return Health("down", detail=meaning + (f" ({said})" if said else ""))
        return health_from_rnstatus_json(out)

    async def list_models(self) -> list[ModelInfo]:
        return []  # a mesh network stack: nothing to list beside the models


def _ready_config_dir(configured: str | None) -> Path | str:
    """The config directory to run rnstatus with, or why it is not run (file reads: off the event loop)."""
    config_dir = config_dir_to_use(configured)
    if isinstance(config_dir, str):
        return config_dir
    return _not_running(config_dir) or config_dir


def _not_running(config_dir: Path) -> str | None:
    """Why rnstatus would find no shared instance, seen without running it (rns_instance.py says why not run)."""
    try:
        instance = shared_instance(config_dir)
    except OSError as exc:
        return one_line(f"could not read the Reticulum config in {config_dir}: {exc}")
    if not instance.shared:
        return one_line(f"share_instance is off in {config_dir}/config: rnstatus cannot reach that rnsd")
    if is_listening(instance) is False:
        where = f"@rns/{instance.unix_name}" if instance.unix_name is not None else f"port {instance.port}"
        return one_line(f"{_EXIT_MEANINGS[1]} (nothing listens on {where})")
    return None


async def _communicate(process: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """Both outputs (each kept up to one byte past the limit, so an oversize one shows) once the child exits."""
    assert process.stdout is not None  # both are PIPEs
    assert process.stderr is not None
    out, err, _ = await asyncio.gather(_read_capped(process.stdout), _read_capped(process.stderr), process.wait())
    return out, err


async def _read_capped(stream: asyncio.StreamReader) -> bytes:
    kept = bytearray()
    while chunk := await stream.read(65536):
        # Keep draining past the limit: a child blocked on a full pipe would never exit.
        kept += chunk[:max(0, _MAX_OUTPUT_BYTES + 1 - len(kept))]
    return bytes(kept)


async def _kill_and_reap(process: asyncio.subprocess.Process) -> None:
    """Kill the child's process group, then wait for the child (bounded).

    Runs on every way out of a probe that did not get its answer, a cancellation included: a probe the monitor
    gave up on must not leave rnstatus blocked on a hung rnsd. The group goes too, so nothing the child started
    keeps running (while any member lives, the kernel hands its id to no new group).
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), _REAP_S)
