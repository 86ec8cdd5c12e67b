"""Restarting a backend: the configured argv, run without a shell, shown to the operator first."""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestartPlan:
    """What a restart will run; `argv` is None when the provider has no restart configured."""

    provider: str
    argv: tuple[str, ...] | None

    @property
    def shown(self) -> str:
        """The exact command, quoted as a shell would need it (it is never run through a shell)."""
        if self.argv is None:
            return f"(no restart configured for {self.provider}: add `restart: [argv…]` to its config)"
        return shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class RestartOutcome:
    returncode: int
    output: str


async def run_restart(plan: RestartPlan, timeout_s: float = 120.0) -> RestartOutcome:
    """Run the argv (no shell), bounded in time; the last 4 KiB of its output come back."""
    if plan.argv is None:
        raise ValueError(plan.shown)
    process = await asyncio.create_subprocess_exec(
        *plan.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout_s):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return RestartOutcome(-9, f"killed after {timeout_s:g}s without finishing")
    return RestartOutcome(process.returncode or 0, output.decode("utf-8", "replace")[-4096:])
