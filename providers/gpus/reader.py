"""One reading of a host's GPUs, from the source its config names (`hosts: - gpus:`).

- `nvml` reads the machine llmdeck runs on: a host with no `ssh` whose `address` is unset, a loopback address
  or this machine's own name (and the implicit "local" host when the config has no `hosts:`).
- `nvidia-smi` runs here for that local host, or through `ssh` for a host that has one. A host that is neither
  (an address, no ssh) has no nvidia-smi llmdeck can run: running it here would show this machine's GPUs under
  another host's name.
- `dcgm` fetches the host's `dcgm_url`.
- `auto` tries them in that order, each where it applies, and takes the first that answers. A source that is
  simply not there (no NVML library, no nvidia-smi, no GPU listed) is passed over; a source that failed (a driver
  error, ssh refused, an exporter down) is the reading's error unless a later source answers.

No GPU is not an error: the reading then has source "none" and says why in `error` ("no GPU (nvidia-smi not
found)"). A reading never raises.
"""

from __future__ import annotations

import socket
import time
from typing import Final

import httpx

from config.schema import DeckConfig, HostConfig
from providers.gpu_info import HostGpus
from providers.gpus.dcgm import read_dcgm
from providers.gpus.nvidia_smi import read_nvidia_smi
from providers.gpus.nvml import read_nvml
from providers.gpus.outcome import NotThere, SourceResult, failed

LOCAL_HOST: Final = "local"
"""The one host GPUs are read for when the config has no `hosts:`: this machine."""
NO_SOURCE: Final = "none"
_LOOPBACK: Final = frozenset(("localhost", "localhost.localdomain", "127.0.0.1", "::1", "[::1]"))


def gpu_hosts(config: DeckConfig) -> tuple[HostConfig, ...]:
    """The hosts whose GPUs are read: the config's `hosts:`, or the implicit local host when there are none."""
    return config.hosts or (HostConfig(name=LOCAL_HOST),)


def is_local(host: HostConfig) -> bool:
    """Whether the host is the machine llmdeck runs on (so NVML and a plain nvidia-smi read its GPUs)."""
    if host.ssh is not None:
        return False
    if host.address is None:
        return True
    address = host.address.strip().lower()
    return address in _LOOPBACK or address.startswith("127.") or address == socket.gethostname().lower()


async def read_host_gpus(host: HostConfig, client: httpx.AsyncClient, *,
                         timeout_s: float | None = None) -> HostGpus:
    """The host's GPUs now, from its configured source. `timeout_s` bounds each source (their defaults
    otherwise). Never raises: whatever went wrong is the reading's `error`."""
    try:
        if host.gpus == NO_SOURCE:
            return HostGpus(host=host.name, source=NO_SOURCE, error="GPU readings are off for this host (gpus: none)",
                            read_at=time.time())
        if host.gpus == "auto":
            return await _auto(host, client, timeout_s)
        result = await _read(host.gpus, host, client, timeout_s)
        # Named in the config, a source that is not there is a failure to fix, not a machine without GPUs.
        return failed(host.name, host.gpus, result.reason) if isinstance(result, NotThere) else result
    except Exception as exc:  # a reading is a status line: an unforeseen fault is its error, never the deck's
        return failed(host.name, host.gpus, f"could not read GPUs: {type(exc).__name__}: {exc}")


async def _auto(host: HostConfig, client: httpx.AsyncClient, timeout_s: float | None) -> HostGpus:
    local = is_local(host)
    sources = [name for name, applies in (("nvml", local), ("nvidia-smi", local or host.ssh is not None),
                                          ("dcgm", host.dcgm_url is not None)) if applies]
    errors: list[HostGpus] = []
    missing: list[str] = []
    for source in sources:
        result = await _read(source, host, client, timeout_s)
        if isinstance(result, NotThere):
            if source != "nvml":  # NVML missing says nothing nvidia-smi does not say better next
                missing.append(result.reason)
            continue
        if result.error is None:
            return result
        errors.append(result)
    if len(errors) == 1:
        return errors[0]
    if errors:
        return failed(host.name, errors[0].source, "; ".join(f"{e.source}: {e.error}" for e in errors))
    if not sources:
        missing.append("no ssh or dcgm_url to read it by")
    why = "; ".join(missing)
    return HostGpus(host=host.name, source=NO_SOURCE, error=f"no GPU ({why})" if why else "no GPU found",
                    read_at=time.time())


async def _read(source: str, host: HostConfig, client: httpx.AsyncClient, timeout_s: float | None) -> SourceResult:
    if source == "nvml":
        if not is_local(host):
            return NotThere("NVML reads only the machine llmdeck runs on: use nvidia-smi through ssh, or dcgm")
        return await read_nvml(host.name)
    if source == "nvidia-smi":
        if host.ssh is None and not is_local(host):
            return NotThere("nvidia-smi needs the host's ssh destination (ssh:) to run there")
        return await read_nvidia_smi(host, timeout_s=timeout_s)
    if host.dcgm_url is None:
        return NotThere("no dcgm_url for this host")
    if timeout_s is None:
        return await read_dcgm(host.name, host.dcgm_url, client)
    return await read_dcgm(host.name, host.dcgm_url, client, timeout_s=timeout_s)
