"""Restarting a backend: the configured argv, run without a shell, shown to the operator first.

The plan holds the argv as written in the config (`${VAR}` references, not their values): that is what the
confirmation shows. Variables are expanded only when the command starts; an argument that would then carry a
secret this process knows is refused, since every user of the machine can read argv in `ps`.
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass

from config.restart_argv import expand_restart_argv, how_it_runs
from config.secret_registry import contains_secret, scrub


@dataclass(frozen=True, slots=True)
class RestartPlan:
    """What a restart will run; `argv` is None when the provider has no restart configured."""

    provider: str
    argv: tuple[str, ...] | None

    @property
    def shown(self) -> str:
        """The command as written in the config, quoted as a shell would need it; `${VAR}` stays a reference."""
        if self.argv is None:
            return f"(no restart configured for {self.provider}: add `restart: [argv…]` to its config)"
        return shlex.join(self.argv)

    @property
    def how(self) -> str:
        """Who interprets the command: `no shell`, or the shell (local, or remote through ssh) that reads it."""
        return how_it_runs(self.argv or ())


class RestartRefusedError(ValueError):
    """The restart would put a secret where every user can read it; the message names no value."""


@dataclass(frozen=True, slots=True)
class RestartOutcome:
    returncode: int
    output: str


async def run_restart(plan: RestartPlan, timeout_s: float = 120.0) -> RestartOutcome:
    """Run the argv (no shell, variables expanded now), bounded in time; the last 4 KiB of its output come back,
    scrubbed of every known secret. RestartRefusedError when an expanded argument would carry a known secret."""
    if plan.argv is None:
        raise ValueError(plan.shown)
    argv = expand_restart_argv(plan.argv)
    for index, (written, expanded) in enumerate(zip(plan.argv, argv, strict=True)):
        if expanded != written and contains_secret(expanded):
            raise RestartRefusedError(
                f"restart of {plan.provider} not run: argument {index} ({written}) would carry a secret, and argv is "
                "visible to every user in `ps` — let the command read the variable from its environment instead")
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout_s):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return RestartOutcome(-9, f"killed after {timeout_s:g}s without finishing")
    return RestartOutcome(process.returncode or 0, scrub(output.decode("utf-8", "replace")[-4096:]))
