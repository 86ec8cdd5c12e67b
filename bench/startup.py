"""Time from process start to the first painted frame of the console, in a real pseudo-terminal.

Starts `llmdeck --config CFG` under a pty (120×36, TERM=xterm-256color) with a throw-away HOME and a config
whose servers are down (so nothing but the console itself is measured), reads what it writes until the Health
pane's header is on screen, then quits it with ctrl+q. Prints the median and best of a few runs; target ≤ 0.8 s.
Run: `.venv/bin/python bench/startup.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.8
COLUMNS, ROWS = 120, 36
MARKER = "Provider"  # the Health table's first column header: the pane, not just the shell, is painted
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_].*?\x1b\\|\x1b[@-Z\\-_]",
                     re.DOTALL)
CONFIG = """\
providers:
  - {name: local-ollama, kind: ollama, base_url: "http://127.0.0.1:9"}
  - {name: box-vllm, kind: vllm, base_url: "http://127.0.0.1:9"}
routes:
  - alias: chat
    targets: [{provider: box-vllm, model: m}, {provider: local-ollama, model: "llama3.2:1b"}]
"""


def _environment(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LLMDECK_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               LLMDECK_DATA_DIR=str(home / "data"), TERM="xterm-256color", COLORTERM="",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", PYTHONPATH=str(ROOT))
    return env


def first_frame_seconds(config: Path, home: Path, timeout_s: float = 20.0) -> float:
    """One run: seconds from spawning the process until MARKER appears on the terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "console.cli", "--config", str(config)], stdin=slave,
                               stdout=slave, stderr=slave, env=_environment(home), cwd=ROOT, start_new_session=True)
    os.close(slave)
    seen = ""
    try:
        while MARKER not in ESCAPES.sub("", seen):
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"no first frame within {timeout_s:g}s; the terminal showed:\n{seen[-2000:]}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(master, 65536).decode("utf-8", "replace")
                except OSError:  # the child closed the terminal: it died
                    raise RuntimeError(f"llmdeck exited early:\n{ESCAPES.sub('', seen)[-2000:]}") from None
        elapsed = time.perf_counter() - started
        os.write(master, b"\x11")  # ctrl+q
        _wait_or_kill(process, master)
        return elapsed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


def _wait_or_kill(process: subprocess.Popen[bytes], master: int, timeout_s: float = 10.0) -> None:
    deadline = time.perf_counter() + timeout_s
    while process.poll() is None and time.perf_counter() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                os.read(master, 65536)  # keep draining so the child never blocks on a full terminal
            except OSError:
                break
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=5)


LOADED_TARGET_S = 2.0
"""On a machine whose every core is busy with something else."""


@contextmanager
def burners(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU (`yes > /dev/null`), as another build on a shared box would."""
    spinning = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(count)]
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.wait()


def measure(config: Path, home: Path, runs: int, label: str, target_s: float) -> bool:
    samples = [first_frame_seconds(config, home) for _ in range(runs)]
    median = statistics.median(samples)
    verdict = "within" if median <= target_s else "OVER"
    print(f"{label}: startup to first frame: median {median:.3f} s, best {min(samples):.3f} s, worst "
          f"{max(samples):.3f} s over {len(samples)} runs ({verdict} the {target_s} s target)")
    return median <= target_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2,
                        help="CPU burners for the loaded run (0: skip it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmdeck-startup-") as scratch:
        home = Path(scratch)
        config = home / "config.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        first_frame_seconds(config, home)  # warm the OS file cache and the bytecode cache
        ok = measure(config, home, args.runs, "idle machine", TARGET_S)
        if args.burners:
            with burners(args.burners):
                ok &= measure(config, home, args.runs, f"{args.burners} cores busy", LOADED_TARGET_S)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
