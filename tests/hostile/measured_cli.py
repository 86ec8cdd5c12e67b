"""The llmdeck CLI as a subprocess against hostile servers, with its peak RSS and wall time measured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("rss_runner.py")


@dataclass(frozen=True)
class MeasuredRun:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float
    seconds: float


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_cli(config: Path, *args: str, timeout_s: float = HANG_S) -> MeasuredRun:
    """`llmdeck ARGS` with this config; the timeout only bounds a hang (the child is killed and the test fails)."""
    rss_file = config.with_name(f"rss-{time.monotonic_ns()}.txt")
    env = {**os.environ, "LLMDECK_CONFIG": str(config), "PYTHONPATH": str(ROOT), "COLUMNS": "120"}
    started = time.monotonic()
    # A session of its own, so a hang is ended for the runner and the CLI under it alike.
    child = subprocess.Popen([sys.executable, str(RUNNER), str(rss_file), sys.executable, "-m", "console.cli", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                             env=env, cwd=ROOT, start_new_session=True)
    try:
        stdout, stderr = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise AssertionError(f"llmdeck {' '.join(args)} still running after {timeout_s:.0f} s") from None
    seconds = time.monotonic() - started
    peak_kib = int(rss_file.read_text(encoding="utf-8"))
    return MeasuredRun(child.returncode, stdout, stderr, peak_kib / 1024, seconds)
