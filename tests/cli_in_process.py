"""The `llmdeck` CLI run inside the test process, for tests about what a command prints, writes and keeps rather
than about the process itself (its exit on a signal or a closed pipe, what the interpreter says at exit): those run
it as a real subprocess. Starting the interpreter and importing the commands costs about a second a run; here the
imports are paid once. Output is captured at the file descriptors, so what a child process or a library writes
to fd 1 or 2 is seen, as through the pipes of a real run; stdin is empty and not a terminal, as from /dev/null."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from console.cli import main


@dataclass(frozen=True)
class CliRun:
    """One run: the shape of subprocess.CompletedProcess that the tests read."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run_cli(capfd: pytest.CaptureFixture[str], *args: str, env: Mapping[str, str] | None = None) -> CliRun:
    """`llmdeck ARGS` with `env` added to the environment for this run only; the exit code as `raise
    SystemExit(main())` would give it."""
    capfd.readouterr()  # what came before is not this command's output
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        patch.setattr(sys, "stdin", io.StringIO(""))
        try:
            code = main(list(args))
        except SystemExit as exited:  # argparse's own exits: --help, a usage error
            code = _exit_status(exited.code)
    out, err = capfd.readouterr()
    return CliRun(args=args, returncode=code, stdout=out, stderr=err)


def _exit_status(code: object) -> int:
    """The status the interpreter exits with for SystemExit(code)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1
