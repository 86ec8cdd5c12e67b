"""Soak: 20 chat providers, chat traffic back to back and faults injected at random; memory, file descriptors,
asyncio tasks and threads must stay flat, and the ledger must hold one row per request made.

Twenty emulators (Ollama, vLLM, llama.cpp, OpenAI with a dummy `env:` key, Anthropic with one) run in processes of
their own on 127.0.0.1; the config routes over them with fallbacks between kinds. A fault injector (a thread) every
few seconds breaks a random emulator with a random fault (500, 503, 429, cut, stall_mid, refuse — the process
really stops —, delay, malformed) and mends it 5–20 s later.

1. Headless, the main part: the Deck in this process (`async with deck`), `--concurrency` chat loops sending
   requests back to back through `deck.chat_stream` (as `llmdeck chat` does), and every `--sample-s` this
   process's RSS, open fds, threads and asyncio tasks, the requests made and the ledger's rows.
2. The real console (`llmdeck --config CFG` in a pty, bench/idle_cpu.py's Console) for `--console-minutes`: the
   Chat pane sends a prompt, waits for its ledger row, sends the next; the console process's RSS, fds and
   threads are sampled the same way.

Each part ends with a summary: warm-up excluded (the first 20 % or 60 s, at most half the run), RSS min/max/drift
against ±10 MB, fds/tasks/threads flat, requests made = ledger rows, PASS/FAIL per goal. Exit code 0 only when
every goal passes. Ctrl-C stops the part running, which still prints its summary.

Run: `.venv/bin/python bench/soak.py [--minutes 30] [--console-minutes 5]`; quick: `--minutes 2 --console-minutes 1`.
`--trace-allocations` adds to the headless summary the lines whose Python allocations grew after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from _soak_console import ConsoleSoak
from _soak_lab import FaultInjector, Fleet, chat_targets, config_text, export_keys, running_fleet
from _soak_report import LedgerCounter, Sample, Verdict, judge, open_fds, status_fields, warmup_s
from _soak_trace import AllocationTrace

from config.loader import load_config
from console.commands.tui import monitor_policy
from providers.base import ChatRequest, Message
from providers.chat_run import request_status
from providers.deck import Deck
from providers.errors import ProviderError
from providers.safe_text import one_line

WORDS = ("status", "model", "latency", "token", "route", "cache", "GPU", "queue", "why", "how", "the", "a",
         "summarise", "explain", "list", "compare", "deck", "fallback", "stream", "budget")
INTERRUPTED = threading.Event()
"""Ctrl-C was pressed: the part running stops and prints its summary; the parts after it are skipped."""
DRAIN_S = 90.0
"""After the end, chats still running get this long to finish by themselves (a hang bound, far above a route's
own deadlines) before they are cancelled; a cancelled chat still writes its row."""


def prompt(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 12)))


@dataclass
class Traffic:
    """Chat loops over a Deck, counting what they started and how each ended."""

    deck: Deck
    rng: random.Random
    targets: list[str]
    think_s: float
    made: int = 0
    chars: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    strays: Counter[str] = field(default_factory=Counter)
    """Exceptions a chat should never raise (anything not a ProviderError): bugs."""

    async def loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.one()
            if self.think_s:
                await asyncio.sleep(self.rng.uniform(0, self.think_s))

    async def one(self) -> None:
        request = ChatRequest(model="", messages=(Message("user", prompt(self.rng)),),
                              max_tokens=self.rng.randint(1, 64))
        try:
            run = self.deck.chat_stream(self.rng.choice(self.targets), request)
        except Exception as exc:  # no request made (an unknown target): still a bug of the soak or the deck
            self.strays[one_line(f"{type(exc).__name__}: {exc}")[:160]] += 1
            return
        self.made += 1
        try:
            async with run:  # as `llmdeck chat` does: leaving the block ends the run and writes its row
                async for chunk in run:
                    self.chars += len(chunk.text)
        except ProviderError:
            pass
        except Exception as exc:  # a bug: counted and reported, and the soak goes on
            self.strays[one_line(f"{type(exc).__name__}: {exc}")[:160]] += 1
        self.statuses[request_status(run)] += 1
        if run.error is not None:
            self.errors[run.error.kind] += 1


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()


async def headless(fleet: Fleet, config_path: Path, data_dir: Path, args: argparse.Namespace) -> Verdict:
    rng = random.Random(args.seed)
    config = load_config(config_path)
    duration = args.minutes * 60
    trace = AllocationTrace() if args.trace_allocations else None
    if trace is not None:
        trace.start()
    deck = Deck(config, data_dir, monitor_policy=monitor_policy(config))
    async with deck:
        if deck.ledger is None:
            raise SystemExit(f"soak: the ledger cannot be used: {deck.ledger_problem}")
        counter = LedgerCounter(deck.ledger.path)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def interrupted() -> None:
            INTERRUPTED.set()
            stop.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, interrupted)
        await asyncio.sleep(min(5.0, args.sample_s))  # the first probes, so "before" is the deck at rest
        before = (open_fds(), len(asyncio.all_tasks()), status_fields()[1])
        traffic = Traffic(deck, rng, chat_targets(fleet), args.think_s)
        injector = FaultInjector(fleet, random.Random(args.seed + 1), every_s=args.fault_every_s)
        injector.start()
        loops = [asyncio.create_task(traffic.loop(stop), name=f"chat-loop-{i}") for i in range(args.concurrency)]
        samples: list[Sample] = []
        started = time.monotonic()
        print(f"headless: {len(fleet.emulators)} providers, {args.concurrency} chat loops, {args.minutes:g} min, "
              f"sample every {args.sample_s:g} s", flush=True)
        try:
            while not stop.is_set():
                next_at = started + (len(samples) + 1) * args.sample_s
                await sleep_unless(stop, min(next_at, started + duration) - time.monotonic())
                if time.monotonic() >= started + duration:
                    stop.set()
                if time.monotonic() >= next_at - 0.01:
                    rss, threads = status_fields()
                    sample = Sample(time.monotonic() - started, rss, open_fds(), threads, len(asyncio.all_tasks()),
                                    traffic.made, await asyncio.to_thread(counter.rows))
                    samples.append(sample)
                    print(sample.line(f" broken={injector.broken_now}"), flush=True)
                    if trace is not None and sample.t >= warmup_s(duration):
                        trace.warm()
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            stop.set()
            await asyncio.to_thread(injector.stop)
            _, pending = await asyncio.wait(loops, timeout=DRAIN_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            stuck = len(pending)
        await asyncio.sleep(min(10.0, args.sample_s))  # keep-alive connections of the traffic may close
        after = (open_fds(), len(asyncio.all_tasks()), status_fields()[1])
        rows, statuses = await asyncio.to_thread(counter.rows), await asyncio.to_thread(counter.by_status)
        counter.close()
        problem = deck.ledger_problem
    verdict = judge("headless Deck", samples, warmup_s(duration), traffic.made, rows)
    verdict.add("no stray exceptions", not traffic.strays,
                "none" if not traffic.strays else "; ".join(f"{n}× {text}" for text, n in traffic.strays.items()))
    verdict.add("no chat stuck at the end", stuck == 0, f"{stuck} cancelled after {DRAIN_S:g} s")
    verdict.add("ledger writable", problem is None, problem or "every row written")
    if INTERRUPTED.is_set():
        verdict.lines.append(f"  info  interrupted (Ctrl-C) after {samples[-1].t if samples else 0:.0f} s")
    verdict.lines += [
        f"  info  before traffic: fds {before[0]}, tasks {before[1]}, threads {before[2]}; after traffic ended and "
        f"a pause: fds {after[0]}, tasks {after[1]}, threads {after[2]}",
        f"  info  outcomes: {dict(traffic.statuses)}; ledger by status: {statuses}",
        f"  info  errors by kind: {dict(traffic.errors)}; {traffic.chars} characters streamed",
        f"  info  faults injected: {dict(injector.injected)}",
    ] + [f"  info  injector problem: {text}" for text in injector.problems[:10]]
    if trace is not None:
        verdict.lines += trace.report()
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="headless soak length (0 skips it)")
    parser.add_argument("--console-minutes", type=float, default=5.0, help="pty console soak length (0 skips it)")
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--concurrency", type=int, default=4, help="chat loops in the headless part")
    parser.add_argument("--think-s", type=float, default=0.5, help="random pause up to this after each chat")
    parser.add_argument("--fault-every-s", type=float, default=3.0, help="seconds between fault-injector turns")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--trace-allocations", action="store_true",
                        help="headless part: list the code whose Python allocations grew after warm-up "
                             "(tracemalloc; slower, and RSS is not comparable with an untraced run)")
    args = parser.parse_args()
    # SIGTERM ends the soak as Ctrl-C does, so the emulators (sessions of their own) are still stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    export_keys()
    verdicts: list[Verdict] = []
    with running_fleet() as fleet, tempfile.TemporaryDirectory(prefix="llmdeck-soak-") as tmp:
        root = Path(tmp)
        config_path = root / "config.yaml"
        config_path.write_text(config_text(fleet), encoding="utf-8")
        if args.minutes > 0:
            verdicts.append(asyncio.run(headless(fleet, config_path, root / "headless-data", args)))
            print("\n".join(verdicts[-1].lines), flush=True)
        if args.console_minutes > 0 and not INTERRUPTED.is_set():
            soak = ConsoleSoak(fleet, config_path, root / "console-home", args)
            verdicts.append(soak.run())
            print("\n".join(verdicts[-1].lines), flush=True)
    if not verdicts:
        print("soak: nothing to run (--minutes 0 and --console-minutes 0)", file=sys.stderr)
        return 2
    passed = all(v.passed for v in verdicts)
    parts = ", ".join(f"{v.title}: {'PASS' if v.passed else 'FAIL'}" for v in verdicts)
    print(f"\nsoak: {'PASS' if passed else 'FAIL'} ({parts})")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
