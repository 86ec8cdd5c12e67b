"""CPU of the real console left alone: the `llmdeck` process in a pseudo-terminal, nothing typed.

For each case (N providers, terminal size, refresh interval) the script starts Ollama emulators in processes of
their own (providers share them round-robin, so 100 providers need no 100 servers), writes a config, starts
`llmdeck --config CFG` under a pty, waits for the first paint, then on each pane in turn lets it settle and reads
the process's CPU time (utime + stime from /proc/PID/stat) over a fixed window. It also counts the bytes the
console wrote to the terminal in that window: over SSH every byte is paid for.

Targets (issue 12): ≤ 2 % of one core with 10 providers at the default refresh on every pane; ≤ 5 % with 100
providers at `refresh_s: 1`. Run: `.venv/bin/python bench/idle_cpu.py [--window 20] [--quick]`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from _emulator import ROOT, emulator_processes

PANES = ("health", "models", "graphs", "routes", "chat", "images")
PANE_KEYS = "123456"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    providers: int
    columns: int
    rows: int
    refresh_s: float | None  # None: the default

    @property
    def goal_percent(self) -> float:
        return 2.0 if self.providers <= 10 else 5.0

    def label(self) -> str:
        refresh = "default" if self.refresh_s is None else f"{self.refresh_s:g}s"
        return f"{self.providers} providers, {self.columns}×{self.rows}, refresh {refresh}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15 of stat(5)


def config_text(case: Case, urls: list[str]) -> str:
    lines = ["providers:"]
    lines += [f'  - {{name: ollama-{i:03d}, kind: ollama, base_url: "{urls[i % len(urls)]}"}}'
              for i in range(case.providers)]
    lines.append("routes:")
    lines.append("  - alias: chat")
    lines.append('    targets: [{provider: ollama-000, model: "llama3.2:1b"}]')
    if case.refresh_s is not None:
        lines.append(f"ui: {{refresh_s: {case.refresh_s:g}}}")
    return "\n".join(lines) + "\n"


class Console:
    """The real console in a pty; a thread drains (and counts) what it writes, as a terminal would."""

    def __init__(self, config: Path, home: Path, columns: int, rows: int) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMDECK_", "XDG_"))}
        env.update(HOME=str(home), LLMDECK_DATA_DIR=str(home / "data"), TERM="xterm-256color", COLORTERM="",
                   COLUMNS=str(columns), LINES=str(rows), PYTHONPATH=str(ROOT),
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
        self.process = subprocess.Popen([sys.executable, "-m", "console.cli", "--config", str(config)],
                                        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
                                        start_new_session=True)
        os.close(slave)
        self.written = 0
        self.text = b""
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def chunks(self) -> Iterator[bytes]:
        """What the console writes, as it comes, until it closes the terminal."""
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            yield chunk

    def _drain(self) -> None:
        for chunk in self.chunks():
            self.written += len(chunk)
            self.text = (self.text + chunk)[-200_000:]

    def wait_for(self, marker: bytes, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while marker not in self.text:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"console never showed {marker!r}")
            time.sleep(0.05)  # noqa: TID251 - a synchronous harness polling a child process

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self.master, b"\x11")  # ctrl+q
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.master)


def measure(case: Case, urls: list[str], window_s: float, settle_s: float,
            panes: tuple[str, ...]) -> list[tuple[str, float, float]]:
    """(pane, CPU % of one core, bytes written per second) for each pane."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config = home / "config.yaml"
        config.write_text(config_text(case, urls))
        console = Console(config, home, case.columns, case.rows)
        try:
            console.wait_for(b"Provider")
            for pane in panes:
                console.press(PANE_KEYS[PANES.index(pane)])
                time.sleep(settle_s)  # noqa: TID251 - let the pane's first load pass before measuring idle
                cpu_before, bytes_before, started = cpu_seconds(console.process.pid), console.written, time.monotonic()
                time.sleep(window_s)  # noqa: TID251 - the measuring window itself
                elapsed = time.monotonic() - started
                cpu = (cpu_seconds(console.process.pid) - cpu_before) / elapsed * 100.0
                results.append((pane, cpu, (console.written - bytes_before) / elapsed))
        finally:
            console.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured per pane")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after switching pane, not measured")
    parser.add_argument("--quick", action="store_true", help="Health and Models panes only, at 80×24")
    args = parser.parse_args()
    cases = [Case(10, 80, 24, None), Case(100, 80, 24, 1.0)]
    if not args.quick:
        cases += [Case(10, 160, 48, None), Case(100, 160, 48, 1.0)]
    panes = ("health", "models") if args.quick else PANES
    print(f"window {args.window:g} s per pane, after {args.settle:g} s to settle; CPU is % of one core\n")
    print("| case | pane | CPU % | goal % | × goal | terminal bytes/s |")
    print("|---|---|---|---|---|---|")
    with emulator_processes("ollama", 10) as urls:
        for case in cases:
            for pane, cpu, rate in measure(case, urls, args.window, args.settle, panes):
                print(f"| {case.label()} | {pane} | {cpu:.1f} | {case.goal_percent:g} | "
                      f"{cpu / case.goal_percent:.2f} | {rate:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
