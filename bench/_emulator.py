"""Start an emulator in its own process for benchmarks, so the client's measurements share no GIL with it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def emulator_process(kind: str) -> Iterator[str]:
    """Run `llmdeck emulate KIND` on a free port; yield its URL once it answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "console.cli", "emulate", kind, "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/v1/models", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.05)  # noqa: TID251 - a synchronous launcher waiting for a child process
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def emulator_processes(kind: str, count: int) -> Iterator[list[str]]:
    """`count` emulators of one kind, each in its own process; their URLs."""
    with ExitStack() as stack:
        yield [stack.enter_context(emulator_process(kind)) for _ in range(count)]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
