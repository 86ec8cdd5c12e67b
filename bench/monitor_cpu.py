"""CPU of the health monitor alone, headless: the Deck with N Ollama providers probed every `refresh_s`.

What an idle console pays for probing, with no terminal at all: the console's idle CPU (bench/idle_cpu.py) minus
this is what drawing costs. Emulators run in processes of their own; providers share them round-robin.
Run: `.venv/bin/python bench/monitor_cpu.py [--providers 100] [--refresh 1] [--window 20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from _emulator import emulator_processes

from config.schema import DeckConfig, ProviderConfig
from providers.deck import Deck
from providers.http import make_client
from providers.monitor import MonitorPolicy


async def measure(urls: list[str], providers: int, refresh_s: float, window_s: float, settle_s: float,
                  transport: str = "default") -> None:
    config = DeckConfig(providers=tuple(
        ProviderConfig(name=f"ollama-{i:03d}", kind="ollama", base_url=urls[i % len(urls)]) for i in range(providers)))
    # The console's own policy for this refresh (console/commands/tui.py).
    policy = MonitorPolicy(interval_s=refresh_s, fast_interval_s=min(1.0, refresh_s))
    with tempfile.TemporaryDirectory() as tmp:
        client = make_client(light=transport == "light")
        deck = Deck(config, Path(tmp), monitor_policy=policy, client=client)
        async with deck:
            await asyncio.sleep(settle_s)
            probes_before = sum(deck.monitor.probe_counts.values())
            before, started = os.times(), time.monotonic()
            await asyncio.sleep(window_s)
            elapsed = time.monotonic() - started
            after = os.times()
            user = (after.user - before.user) / elapsed * 100.0
            system = (after.system - before.system) / elapsed * 100.0
            cpu = user + system
            probes = (sum(deck.monitor.probe_counts.values()) - probes_before) / elapsed
    up = sum(1 for h in deck.monitor.snapshots.values() if h.status == "up")
    per_probe_ms = cpu / max(probes, 1e-9) * 10  # % of a second is 10 ms
    print(f"| {transport} | {providers} | {refresh_s:g} | {probes:.1f} | {cpu:.1f} ({user:.1f} + {system:.1f}) | "
          f"{per_probe_ms:.3f} | {up}/{providers} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--refresh", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--transports", nargs="*", default=["default", "light"], choices=["default", "light"])
    args = parser.parse_args()
    print("| transport | providers | refresh s | probes/s | CPU % of a core (user + system) | ms CPU per probe | up |")
    print("|---|---|---|---|---|---|---|")
    with emulator_processes("ollama", 10) as urls:
        for count in args.providers:
            for transport in args.transports:
                asyncio.run(measure(urls, count, args.refresh, args.window, args.settle, transport))


if __name__ == "__main__":
    main()
