"""The soak's second part: the real console in a pty chatting through its Chat pane while faults come and go; the
console process's RSS, fds and threads sampled from /proc."""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _soak_lab import FaultInjector, Fleet
from _soak_report import LedgerCounter, Sample, Verdict, judge, open_fds, status_fields, warmup_s
from idle_cpu import Console

WORDS = ("hello", "status", "latency", "route", "explain", "short", "answer", "please", "why", "models")
COLUMNS, ROWS = 120, 40
TURN_HANG_S = 60.0
"""Bounds the wait for one turn's ledger row (a hang, far above a route's 20 s total deadline)."""
NEW_SESSION_EVERY = 8
"""Turns per chat session: ctrl+n then starts a fresh one, as an operator would, so the transcript on screen (and
the history sent with each prompt) stays bounded and memory measures the console, not one endless chat."""


def wait(condition: Callable[[], bool], timeout_s: float, console: Console) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if console.process.poll() is not None:
            raise RuntimeError(f"the console exited ({console.process.returncode})")
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # noqa: TID251 - a synchronous harness polling a child process
    return True


class ConsoleSoak:
    def __init__(self, fleet: Fleet, config: Path, home: Path, args: argparse.Namespace) -> None:
        self.fleet = fleet
        self.config = config
        self.home = home
        self.minutes: float = args.console_minutes
        self.sample_s: float = args.sample_s
        self.rng = random.Random(args.seed + 2)
        self.injector = FaultInjector(fleet, random.Random(args.seed + 3), every_s=args.fault_every_s)
        self.sent = 0
        self.no_row = 0
        self.samples: list[Sample] = []
        self._stop = threading.Event()

    def _sample(self, console: Console, ledger: Path, started: float) -> None:
        counter = LedgerCounter(ledger)  # its own connection: the chat loop reads the ledger meanwhile
        try:
            while not self._stop.wait(started + (len(self.samples) + 1) * self.sample_s - time.monotonic()):
                pid = console.process.pid
                try:
                    rss, threads = status_fields(pid)
                    fds = open_fds(pid)
                except OSError:  # the console has gone; the chat loop reports it
                    return
                sample = Sample(time.monotonic() - started, rss, fds, threads, None, self.sent, counter.rows())
                self.samples.append(sample)
                print(sample.line(f" broken={self.injector.broken_now}"), flush=True)
        finally:
            counter.close()

    def _chat(self, console: Console, counter: LedgerCounter, end: float) -> None:
        while time.monotonic() < end:
            if self.sent and self.sent % NEW_SESSION_EVERY == 0:
                console.press("\x0e")  # ctrl+n: a new chat session
                time.sleep(0.5)  # noqa: TID251 - the new session opens before the next prompt is typed
            rows, prompts = counter.rows(), counter.prompts()
            text = " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(2, 8)))
            console.press(text)
            console.press("\r")
            self.sent += 1
            # The row is written when the reply ends; the turn (its user message) when the pane has shown it.
            def turn_saved(rows: int = rows, prompts: int = prompts) -> bool:
                return counter.rows() > rows and counter.prompts() > prompts

            if not wait(turn_saved, TURN_HANG_S, console):
                self.no_row += 1
            time.sleep(self.rng.uniform(0.5, 2.0))  # noqa: TID251 - an operator reading the answer

    def run(self) -> Verdict:
        self.home.mkdir(parents=True, exist_ok=True)
        ledger = self.home / "data" / "ledger.sqlite3"
        duration = self.minutes * 60
        console = Console(self.config, self.home, COLUMNS, ROWS)
        print(f"console: llmdeck pid {console.process.pid} in a {COLUMNS}×{ROWS} pty, {self.minutes:g} min",
              flush=True)
        failure = ""
        sampler: threading.Thread | None = None
        counter: LedgerCounter | None = None
        try:
            console.wait_for(b"Provider")
            if not wait(ledger.exists, TURN_HANG_S, console):
                raise RuntimeError(f"no ledger at {ledger}")
            counter = LedgerCounter(ledger)
            console.press("5")
            console.wait_for(b"Enter sends")  # the Chat pane's prompt, which has the keyboard once shown
            started = time.monotonic()
            sampler = threading.Thread(target=self._sample, args=(console, ledger, started), daemon=True)
            sampler.start()
            self.injector.start()
            self._chat(console, counter, started + duration)
        except KeyboardInterrupt:
            failure = "interrupted (Ctrl-C)"
        except RuntimeError as exc:
            failure = str(exc)
        finally:
            self._stop.set()
            if sampler is not None:
                sampler.join()
            self.injector.stop()
            console.close()  # ctrl+q: the console waits for its pending ledger writes before it exits
        rows = counter.rows() if counter is not None else 0
        prompts = counter.prompts() if counter is not None else 0
        if counter is not None:
            counter.close()
        verdict = judge("pty console", self.samples, warmup_s(duration), self.sent, rows)
        verdict.add("every prompt's turn saved", prompts == self.sent and self.no_row == 0,
                    f"{self.sent} prompts sent, {prompts} saved; {self.no_row} without a row in {TURN_HANG_S:g} s")
        verdict.add("console ran to the end", not failure or failure.startswith("interrupted"), failure or "yes")
        verdict.lines.append(f"  info  console exit code {console.process.returncode}; "
                             f"faults injected: {dict(self.injector.injected)}")
        verdict.lines += [f"  info  injector problem: {text}" for text in self.injector.problems[:10]]
        return verdict
