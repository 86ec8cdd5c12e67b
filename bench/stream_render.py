"""Render while chats stream: frames per second and key-to-screen latency of the real console in a pty.

Goal (issue 12): 3 chats streaming at 500 tokens/s each while the operator types — ≥ 30 frames/s and ≤ 50 ms
p95 from key to screen.

The Chat pane shows one session and streams one reply at a time (console/panes/chat.py, ChatPane), so one
console cannot hold three streams. Two setups come closest, and the script runs both:
- `one`: one console, one chat streaming at 3 × 500 = 1500 tokens/s — the same text for one process to parse
  and draw as three 500 tokens/s chats, and the operator types into that same pane's prompt;
- `three`: three consoles side by side, each in its own pty with one chat at 500 tokens/s; the operator types
  into the first. On a small machine the three processes compete for the cores, as three windows would.

The answers come from bench/_long_answer.py (the vLLM emulator with one long answer paced by the clock; the
emulators' own answers are 12–27 tokens, over in 50 ms at this rate) on 127.0.0.1 in a process of its own.

Measured in the pty, after `--warm-up` seconds of streaming, over `--seconds`:
- frames/s: the bench answers Textual's query for synchronized output (`CSI ? 2026 $ p`) as kitty, WezTerm,
  foot, iTerm2 and Ghostty do, so every frame arrives between `CSI ? 2026 h` and `CSI ? 2026 l`; frames are
  counted by the end marker (every byte it writes is inside such a block). Write bursts (reads more than 4 ms
  apart) are shown beside them as a check; a frame that reaches the pty in pieces counts as several bursts.
- key to screen: letters typed into the chat prompt one at a time, every 100–150 ms; for each, the time from
  `os.write` to the read of the bytes after which the prompt row (read with pyte) shows the text typed so far.
  Every 30 letters ctrl+u clears the line (not measured); the typist never waits for the screen.
- CPU % of one core of each console (utime + stime from /proc/PID/stat) and the bytes it wrote per second.

Run: `.venv/bin/python bench/stream_render.py [--seconds 20] [--setup one|three|both] [--size 120x36]
[--profile FILE]` (py-spy on the typed-into console during the window, raw format; it perturbs the numbers).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyte
from _emulator import ROOT, free_port, percentile
from idle_cpu import Console, cpu_seconds

FPS_GOAL = 30.0
LATENCY_GOAL_MS = 50.0
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_REPLY = b"\x1b[?2026;2$y"  # DECRPM: mode 2026 known, currently reset
SYNC_END = b"\x1b[?2026l"
BURST_GAP_S = 0.004
PLACEHOLDER = "Message (Enter sends"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LINE_LETTERS = 30
SHOW_TIMEOUT_S = 2.0


class ScreenedConsole(Console):
    """The console of bench/idle_cpu.py, its output also read into a pyte screen with arrival times, its frames
    counted, and the letters typed into the prompt timed until the prompt row shows them."""

    def __init__(self, config: Path, home: Path, columns: int, rows: int) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.lock = threading.Lock()
        self.frames: list[float] = []
        self.bursts: list[float] = []
        self.reader_busy_s = 0.0
        self.prompt_at: tuple[int, int] | None = None  # (row, column) where prompt text starts
        self.pending: list[tuple[str, float]] = []  # (text typed so far, when its last key was written)
        self.latencies_ms: list[tuple[float, float]] = []  # (when the key was written, ms until shown)
        super().__init__(config, home, columns, rows)

    def _drain(self) -> None:
        tail, last = b"", 0.0
        for chunk in self.chunks():
            now = time.perf_counter()
            started = time.thread_time()
            self.written += len(chunk)
            window = tail + chunk
            if SYNC_QUERY in window:
                os.write(self.master, SYNC_REPLY)
            self.frames.extend([now] * window.count(SYNC_END))
            tail = window[-(len(SYNC_END) - 1):]
            if now - last > BURST_GAP_S:
                self.bursts.append(now)
            last = now
            with self.lock:
                self.stream.feed(chunk)
                self._check_prompt(now)
            self.reader_busy_s += time.thread_time() - started

    def _check_prompt(self, now: float) -> None:
        if not self.pending or self.prompt_at is None:
            return
        row, column = self.prompt_at
        line = self.screen.display[row][column:]
        waiting = []
        for text, written in self.pending:
            if line.startswith(text):
                self.latencies_ms.append((written, (now - written) * 1000))
            else:
                waiting.append((text, written))
        self.pending = waiting

    def screen_text(self) -> str:
        with self.lock:
            return "\n".join(self.screen.display)

    def wait_for(self, marker: bytes, timeout_s: float = 60.0) -> None:
        """Until `marker` is on the screen (not merely among the bytes written)."""
        text = marker.decode()
        deadline = time.monotonic() + timeout_s
        while text not in self.screen_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"console never showed {text!r}; screen:\n{self.screen_text()}")
            time.sleep(0.05)  # noqa: TID251 - a synchronous harness polling a child process

    def find_prompt(self) -> None:
        with self.lock:
            for row, line in enumerate(self.screen.display):
                if PLACEHOLDER in line:
                    self.prompt_at = (row, line.index(PLACEHOLDER))
                    return
        raise RuntimeError(f"no chat prompt on screen:\n{self.screen_text()}")

    def type_timed(self, text: str) -> None:
        with self.lock:
            self.pending.append((text, time.perf_counter()))
            os.write(self.master, text[-1].encode())

    def wait_shown(self, timeout_s: float) -> int:
        """Wait until every typed letter has shown; how many never did (they are dropped): their line was
        cleared before any frame showed them."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: TID251 - polling the reader thread
        with self.lock:
            missed, self.pending = len(self.pending), []
        return missed


@dataclass
class Sample:
    cpu_s: float
    written: int
    frames: int
    bursts: int


def sample(console: ScreenedConsole) -> Sample:
    return Sample(cpu_seconds(console.process.pid), console.written, len(console.frames),
                  len(console.bursts))


def config_text(url: str) -> str:
    return ("providers:\n"
            f'  - {{name: bench-vllm, kind: vllm, base_url: "{url}"}}\n'
            "routes:\n"
            "  - alias: chat\n"
            '    targets: [{provider: bench-vllm, model: "meta-llama/Llama-3.1-8B-Instruct"}]\n')


@contextmanager
def answer_server(tokens_per_s: float, tokens: int) -> Iterator[tuple[str, int]]:
    """The long-answer server's URL and process id."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_long_answer.py"), "--port", str(port),
                                "--tokens-per-s", str(tokens_per_s), "--tokens", str(tokens)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{url}/v1/models", timeout=0.5)
                break
            time.sleep(0.05)  # noqa: TID251 - a synchronous launcher waiting for a child process
        else:
            raise RuntimeError("the long-answer server did not start")
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def stats(url: str) -> dict[str, int]:
    reply: dict[str, int] = json.loads(httpx.get(f"{url}/_bench/stats", timeout=5).text)
    return reply


@contextmanager
def consoles(url: str, count: int, columns: int, rows: int) -> Iterator[list[ScreenedConsole]]:
    with ExitStack() as stack:
        started = []
        for _ in range(count):
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="llmdeck-render-")))
            config = home / "config.yaml"
            config.write_text(config_text(url), encoding="utf-8")
            console = ScreenedConsole(config, home, columns, rows)
            stack.callback(console.close)
            started.append(console)
        yield started


def start_stream(console: ScreenedConsole) -> None:
    console.wait_for(b"Provider")
    console.press("5")
    console.wait_for(PLACEHOLDER.encode())
    console.press("write a long answer\r")
    console.wait_for(b"streaming from")
    console.wait_for(PLACEHOLDER.encode())  # the prompt is empty again
    console.find_prompt()


def type_for(console: ScreenedConsole, seconds: float, rng: random.Random) -> int:
    """Type letters at a human pace for `seconds`, never waiting for the screen; how many letters never showed.
    Line k starts at letter k, so no state of the line before it (nor the placeholder) can pass for it."""
    end = time.perf_counter() + seconds
    line, typed = 0, ""
    while time.perf_counter() < end:
        time.sleep(rng.uniform(0.10, 0.15))  # noqa: TID251 - the operator's pace between keys
        typed += LETTERS[(line + len(typed)) % len(LETTERS)]
        console.type_timed(typed)
        if len(typed) == LINE_LETTERS:
            time.sleep(rng.uniform(0.10, 0.15))  # noqa: TID251 - the operator's pace between keys
            console.press("\x15")  # ctrl+u: delete to the start of the line (not timed)
            line, typed = line + 1, ""
    return console.wait_shown(SHOW_TIMEOUT_S)


@dataclass
class Result:
    setup: str
    fps: list[float]
    bursts_per_s: list[float]
    latencies_ms: list[float]
    missed: int
    cpu_percent: list[float]
    bytes_per_s: list[float]
    tokens_per_s: float
    streams_open: int
    server_cpu_percent: float
    reader_busy_percent: float
    slices: list[tuple[float, float, list[float]]]  # (tokens streamed by its end, frames/s, latencies) per slice


def slices_of(console: ScreenedConsole, began: float, elapsed: float, tokens: tuple[float, float],
              slice_s: float) -> list[tuple[float, float, list[float]]]:
    """The window cut in `slice_s` pieces: how the answer's length so far changes frames/s and latency."""
    tokens_at_start, rate = tokens
    cuts = [began + slice_s * i for i in range(int(elapsed // slice_s) + 1)] + [began + elapsed]
    cuts = sorted(set(cuts))
    out = []
    for start, end in itertools.pairwise(cuts):
        if end - start < slice_s / 2:
            continue
        frames = sum(start <= t < end for t in console.frames)
        lat = [ms for written, ms in console.latencies_ms if start <= written < end]
        out.append((tokens_at_start + (end - began) * rate, frames / (end - start), lat))
    return out


def run_setup(setup: str, server: tuple[str, int], args: argparse.Namespace, profile: Path | None) -> Result:
    url, server_pid = server
    count = 1 if setup == "one" else 3
    with consoles(url, count, args.columns, args.rows) as started:
        for console in started:
            start_stream(console)
        time.sleep(args.warm_up)  # noqa: TID251 - let the streams settle before measuring
        typed_into = started[0]
        spy = None
        if profile is not None:
            spy = subprocess.Popen([str(ROOT / ".venv" / "bin" / "py-spy"), "record", "-p",
                                    str(typed_into.process.pid), "-d", str(int(args.seconds)), "--format", "raw",
                                    "-o", str(profile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            before = [sample(c) for c in started]
            tokens_before, began = stats(url)["tokens_sent"], time.perf_counter()
            busy_before, server_cpu = typed_into.reader_busy_s, cpu_seconds(server_pid)
            missed = type_for(typed_into, args.seconds, random.Random(12))
            elapsed = time.perf_counter() - began
            after = [sample(c) for c in started]
            server_cpu = cpu_seconds(server_pid) - server_cpu
            counts = stats(url)
            if spy is not None:
                spy.wait(timeout=args.seconds + 60)
        finally:
            if spy is not None and spy.poll() is None:
                spy.kill()
                spy.wait()
    tokens_per_s = (counts["tokens_sent"] - tokens_before) / elapsed
    per_stream = (tokens_before / count, tokens_per_s / count)
    return Result(
        setup=setup,
        fps=[(a.frames - b.frames) / elapsed for b, a in zip(before, after, strict=True)],
        bursts_per_s=[(a.bursts - b.bursts) / elapsed for b, a in zip(before, after, strict=True)],
        latencies_ms=[ms for written, ms in typed_into.latencies_ms if written >= began], missed=missed,
        cpu_percent=[(a.cpu_s - b.cpu_s) / elapsed * 100 for b, a in zip(before, after, strict=True)],
        bytes_per_s=[(a.written - b.written) / elapsed for b, a in zip(before, after, strict=True)],
        tokens_per_s=tokens_per_s, streams_open=counts["open_streams"], server_cpu_percent=server_cpu / elapsed * 100,
        reader_busy_percent=(typed_into.reader_busy_s - busy_before) / elapsed * 100,
        slices=slices_of(typed_into, began, elapsed, per_stream, args.slice))


def _quantiles(samples: list[float]) -> tuple[float, float, float]:
    if not samples:
        return float("nan"), float("nan"), float("nan")
    return percentile(samples, 50), percentile(samples, 95), max(samples)


def report(result: Result, rate: float) -> None:
    # A letter never shown is slower than any shown: it counts in the percentiles as infinitely late.
    p50, p95, worst = _quantiles(result.latencies_ms + [math.inf] * result.missed)
    fps = min(result.fps)
    streams = "1 chat" if result.setup == "one" else "3 consoles × 1 chat"
    print(f"\n## {result.setup}: {streams}, {result.tokens_per_s:,.0f} tokens/s delivered in all "
          f"(asked {rate * 3:,.0f}); streams still open at the end: {result.streams_open}")
    print("| measure | value | goal | value / goal | met |")
    print("|---|---|---|---|---|")
    print(f"| frames/s (lowest console) | {fps:.1f} | ≥ {FPS_GOAL:g} | {fps / FPS_GOAL:.2f} | "
          f"{'yes' if fps >= FPS_GOAL else 'NO'} |")
    print(f"| key→screen p95 ms | {p95:.1f} | ≤ {LATENCY_GOAL_MS:g} | {p95 / LATENCY_GOAL_MS:.2f} | "
          f"{'yes' if p95 <= LATENCY_GOAL_MS else 'NO'} |")
    print(f"\nkey→screen over {len(result.latencies_ms)} letters: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
          f"max {worst:.1f} ms; never shown (their line cleared before a frame showed them, or not shown "
          f"{SHOW_TIMEOUT_S:g} s after the window): {result.missed}")
    for index, (frames, bursts, cpu, rate_b) in enumerate(zip(result.fps, result.bursts_per_s, result.cpu_percent,
                                                               result.bytes_per_s, strict=True)):
        print(f"console {index + 1}{' (typed into)' if index == 0 else ''}: {frames:.1f} frames/s "
              f"({bursts:.1f} write bursts/s), CPU {cpu:.0f} % of a core, {rate_b:,.0f} terminal bytes/s")
    print(f"(the answer server used {result.server_cpu_percent:.0f} % of a core; the bench's own pty reader, pyte "
          f"included, was busy {result.reader_busy_percent:.0f} % of the time)")
    print("\nconsole 1 by slice of the window (the answer grows as it streams):")
    print("| answer tokens by then | frames/s | key→screen p50 ms | p95 ms | letters shown |")
    print("|---|---|---|---|---|")
    for tokens, slice_fps, lat in result.slices:
        s50, s95, _ = _quantiles(lat)
        print(f"| {tokens:,.0f} | {slice_fps:.1f} | {s50:.0f} | {s95:.0f} | {len(lat)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per setup")
    parser.add_argument("--setup", choices=("one", "three", "both"), default="both")
    parser.add_argument("--tokens-per-s", type=float, default=500.0, help="per chat of the goal")
    parser.add_argument("--warm-up", type=float, default=1.0, help="seconds streamed before the window")
    parser.add_argument("--slice", type=float, default=5.0, help="seconds per line of the by-slice table")
    parser.add_argument("--size", default="120x36", help="terminal COLUMNSxROWS")
    parser.add_argument("--profile", type=Path, help="py-spy raw profile of the typed-into console (last setup)")
    args = parser.parse_args()
    args.columns, args.rows = (int(part) for part in args.size.lower().split("x"))
    setups = ("one", "three") if args.setup == "both" else (args.setup,)
    print(f"{args.columns}×{args.rows} pty, {args.seconds:g} s measured after {args.warm_up:g} s of streaming; "
          f"goal: 3 chats × {args.tokens_per_s:g} tokens/s, ≥ {FPS_GOAL:g} frames/s, ≤ {LATENCY_GOAL_MS:g} ms p95; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    for setup in setups:
        rate = args.tokens_per_s * (3 if setup == "one" else 1)
        tokens = int(rate * (args.seconds + args.warm_up + 120))  # outlasts start-up and the window
        with answer_server(rate, tokens) as server:
            report(run_setup(setup, server, args, args.profile if setup == setups[-1] else None), args.tokens_per_s)
        print(f"load average {os.getloadavg()[0]:.1f} after this setup")


if __name__ == "__main__":
    main()
