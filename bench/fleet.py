"""The console over a fleet: 20 hosts × 5 providers (the shape of docs/fleet.example.yaml), each provider an
Ollama emulator on loopback (ten emulator processes shared round-robin), GPU readings off (no ssh to reach here).

Measures, in the real `llmdeck` process in an 80×24 pty:
- idle CPU on the Health and Models panes, at the default refresh and at `refresh_s: 1` (issue 12's targets:
  the 100-provider goal is 5 % of one core at 1 s);
- responsiveness: key → screen for a pane switch (`2`, then `1`) and for `:host gpu07` narrowing every pane
  (the header shows `@gpu07`) and `:host all` widening it again, each repeated and reported as median and worst.

Run: `.venv/bin/python bench/fleet.py [--window 20] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pyte
from _emulator import emulator_processes
from idle_cpu import Console, cpu_seconds

HOSTS = 20
PER_HOST = 5


def fleet_config(urls: list[str], refresh_s: float | None) -> str:
    lines = ["hosts:"]
    lines += [f"  - {{name: gpu{h:02d}, gpus: none}}" for h in range(1, HOSTS + 1)]
    lines.append("providers:")
    index = 0
    for h in range(1, HOSTS + 1):
        for p in range(PER_HOST):
            lines.append(f'  - {{name: gpu{h:02d}-ollama{p}, kind: ollama, host: gpu{h:02d}, '
                         f'base_url: "{urls[index % len(urls)]}"}}')
            index += 1
    lines += ["routes:", "  - alias: chat", '    targets: [{provider: gpu01-ollama0, model: "llama3.2:1b"}]']
    if refresh_s is not None:
        lines.append(f"ui: {{refresh_s: {refresh_s:g}}}")
    return "\n".join(lines) + "\n"


class ScreenConsole(Console):
    """The console in a pty, its output also fed to a terminal emulator: checks are made on what the screen shows,
    not on bytes (a redraw may write only the cells that changed)."""

    def __init__(self, config: Path, home: Path, columns: int, rows: int) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.lock = threading.Lock()
        super().__init__(config, home, columns, rows)

    def _drain(self) -> None:
        for chunk in self.chunks():
            with self.lock:
                self.written += len(chunk)
                self.stream.feed(chunk)

    def shows(self, text: str) -> bool:
        with self.lock:
            return any(text in line for line in self.screen.display)

    def wait_for(self, marker: bytes, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.shows(marker.decode()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"console never showed {marker!r}")
            time.sleep(0.01)  # noqa: TID251 - a synchronous harness polling a child process


def key_to_screen(console: ScreenConsole, keys: str, shown: str, gone: str | None = None,
                  timeout_s: float = 30.0) -> float:
    """Seconds from writing `keys` until the screen shows `shown` (and no longer shows `gone`). The markers are
    on the left of the screen: the notifications `:host` raises stack on the right and may cover what is there."""
    started = time.monotonic()
    console.press(keys)
    deadline = started + timeout_s
    while not console.shows(shown) or (gone is not None and console.shows(gone)):
        if time.monotonic() > deadline:
            with console.lock:
                screen = "\n".join(console.screen.display)
            raise RuntimeError(f"console never showed {shown!r} after {keys!r}:\n{screen}")
        time.sleep(0.002)  # noqa: TID251 - polling the emulated screen
    return time.monotonic() - started


def run_case(urls: list[str], refresh_s: float | None, window_s: float, settle_s: float, rounds: int) -> None:
    label = "default" if refresh_s is None else f"{refresh_s:g} s"
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config = home / "config.yaml"
        config.write_text(fleet_config(urls, refresh_s))
        console = ScreenConsole(config, home, 80, 24)
        try:
            console.wait_for(b"Provider")
            console.wait_for(b"100 providers")  # the Health summary: every provider has its row
            for pane_key, pane in (("1", "Health"), ("2", "Models")):
                console.press(pane_key)
                time.sleep(settle_s)  # noqa: TID251 - let the pane's first load pass before measuring idle
                before, started = cpu_seconds(console.process.pid), time.monotonic()
                time.sleep(window_s)  # noqa: TID251 - the measuring window itself
                cpu = (cpu_seconds(console.process.pid) - before) / (time.monotonic() - started) * 100
                print(f"| 20×5, refresh {label} | idle CPU on {pane} | {cpu:.1f} % of a core |", flush=True)
            console.press("1")
            time.sleep(settle_s)  # noqa: TID251 - back on Health, settled
            switches, narrows, widens = [], [], []
            for _ in range(rounds):
                switches.append(key_to_screen(console, "2", " of 400 models"))
                switches.append(key_to_screen(console, "1", "Provider      Status"))
                narrows.append(key_to_screen(console, ":host gpu07\r", "5 providers · "))
                widens.append(key_to_screen(console, ":host all\r", "100 providers · ", gone="@gpu07"))
            for name, samples in (("pane switch", switches), (":host gpu07", narrows), (":host all", widens)):
                print(f"| 20×5, refresh {label} | {name} key → screen | median "
                      f"{statistics.median(samples) * 1000:.0f} ms, worst {max(samples) * 1000:.0f} ms |", flush=True)
        finally:
            console.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0, help="seconds of idle measured per pane")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after switching pane, not measured")
    parser.add_argument("--rounds", type=int, default=5, help="repeats of each key → screen measurement")
    args = parser.parse_args()
    print("| fleet | measure | result |\n|---|---|---|")
    with emulator_processes("ollama", 10) as urls:
        for refresh_s in (None, 1.0):
            run_case(urls, refresh_s, args.window, args.settle, args.rounds)


if __name__ == "__main__":
    main()
