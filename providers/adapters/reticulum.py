"""Reticulum (RNS) health from `rnstatus -j` (PROTOCOLS.md §10.7): RNS has no HTTP API, so the adapter runs the
status tool of the local shared instance, bounded by the provider's timeout, and reads its JSON.

Exit code 1 means no shared instance (rnsd is not running), 2 that the status call failed. All interfaces up is
up, some down is degraded, none up (or no interfaces) is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from typing import Any

from providers.base import Adapter, Capabilities, Health, HealthStatus, ModelInfo

RNSTATUS = "rnstatus"
_EXIT_MEANINGS = {1: "no shared RNS instance: is rnsd running?", 2: "rnstatus could not get the RNS status"}


class ReticulumAdapter(Adapter):
    """Runs `rnstatus -j`; the interfaces that are up are listed where a model server lists its loaded models."""

    capabilities = Capabilities()

    async def health(self) -> Health:
        executable = shutil.which(RNSTATUS)
        if executable is None:
            return Health("down", detail="rnstatus not found on PATH — install Reticulum (`pipx install rns`)")
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            process = await asyncio.create_subprocess_exec(
                executable, "-j", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            return Health("down", detail=f"could not run rnstatus: {exc}")
        try:
            out, err = await asyncio.wait_for(process.communicate(), self.options.timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return Health("down", detail=f"rnstatus gave no answer within {self.options.timeout_s:g}s")
        latency_ms = (loop.time() - started) * 1000.0
        if process.returncode != 0:
            said = err.decode("utf-8", "replace").strip().splitlines()
            meaning = _EXIT_MEANINGS.get(process.returncode or 0, f"rnstatus exited with {process.returncode}")
            return Health("down", detail=meaning + (f" ({said[-1][:160]})" if said else ""))
        return _health_from(out, latency_ms)

    async def list_models(self) -> list[ModelInfo]:
        return []  # a mesh network stack: nothing to list beside the models


def _health_from(out: bytes, latency_ms: float) -> Health:
    try:
        stats: Any = json.loads(out)
    except ValueError:
        return Health("down", detail=f"rnstatus -j printed no JSON: {out[:120]!r}")
    interfaces = stats.get("interfaces") if isinstance(stats, dict) else None
    if not isinstance(interfaces, list):
        return Health("down", detail="rnstatus -j printed no `interfaces` list")
    named = [(str(i.get("short_name") or i.get("name") or "?"), bool(i.get("status")))
             for i in interfaces if isinstance(i, dict)]
    up = tuple(name for name, is_up in named if is_up)
    detail = f"{len(up)}/{len(named)} interfaces up"
    uptime = stats.get("transport_uptime")
    if isinstance(uptime, int | float) and stats.get("transport_id"):
        hours, rest = divmod(int(uptime), 3600)
        detail += f" · transport up {hours}h{rest // 60:02d}m"
    status: HealthStatus = "up" if named and len(up) == len(named) else "degraded" if up else "down"
    return Health(status, latency_ms=latency_ms, models_loaded=up, detail=detail)
