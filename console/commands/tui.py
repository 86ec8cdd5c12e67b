"""`llmdeck` with no subcommand: the console, over a config, auto-discovered servers, or the demo lab."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
from pathlib import Path
from typing import TYPE_CHECKING

from config.paths import data_dir, locate_config
from config.schema import DeckConfig
from console import terminal_graphics
from console.commands.serve_metrics import console_metrics
from console.commands.session import CommandError, fail, host_context_of, load_cli_config
from console.exit_codes import EXIT_OK
from providers.deck import Deck
from providers.monitor import MonitorPolicy

if TYPE_CHECKING:
    from console.demo import DemoSession
    from console.discovery import DiscoveryOutcome


def monitor_policy(config: DeckConfig) -> MonitorPolicy:
    return MonitorPolicy(interval_s=config.ui.refresh_s, fast_interval_s=min(1.0, config.ui.refresh_s))


async def run_console(args: argparse.Namespace) -> int:
    from console.app import DeckApp  # Textual is imported only when the console really starts
    from console.leaving import ExitGuard, use_resilient_output

    demo: DemoSession | None = None
    discovery: DiscoveryOutcome | None = None
    config_file: Path | None = None  # what `:reload` reads again
    try:
        if getattr(args, "demo", False):
            from console.demo import DemoSession  # the emulators load only for the demo

            demo = await asyncio.to_thread(DemoSession.start)
            config, data = demo.config, demo.data_dir
        else:
            location = locate_config(getattr(args, "config", None))
            if not location.path.exists() and not location.explicit:
                from console.discovery import discover_local

                discovery = await discover_local(config_path=location.path)
                config = discovery.config
            else:
                config = load_cli_config(args)
                config_file = location.path
            data = data_dir()
        host = host_context_of(args, config)
        # Before Textual owns the terminal: afterwards its reader thread would swallow the terminal's answers.
        await asyncio.to_thread(terminal_graphics.probe, config.ui.image_protocol)
        deck = Deck(config, data, monitor_policy=monitor_policy(config), demo=demo is not None,
                    output_dir=demo.output_dir if demo is not None else None, config_path=config_file)
        guard: ExitGuard | None = None
        metrics = console_metrics(deck)  # /metrics while the console runs, when ui.metrics_listen is set
        await deck.start()
        try:
            await metrics.start()
            app = DeckApp(deck, readonly=bool(getattr(args, "readonly", False)), demo=demo, discovery=discovery,
                          host=host)
            loop = asyncio.get_running_loop()
            use_resilient_output()
            # a dropped SSH session (SIGHUP) exits like ctrl+q: nothing is lost, and the process always ends
            def request_exit() -> None:
                loop.call_soon_threadsafe(app.exit)

            # What is loaded by now (Textual, the Deck, the config: most of the process's objects) lives as long as
            # the process; frozen, it is left out of every full garbage collection, whose pauses a streaming
            # answer otherwise feels as late frames and late keystrokes.
            gc.freeze()
            with ExitGuard(request_exit) as guard:
                await app.run_async()
        finally:
            # A chat the exit cut short is finished by the deck, its turn written, before the ledger closes.
            await metrics.stop()
            await deck.stop()
            if guard is not None:
                guard.disarm()
    finally:
        if demo is not None:
            await asyncio.to_thread(demo.stop)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Entry point of the console; config problems exit 2 with the reason, like every other command."""
    try:
        return asyncio.run(run_console(args))
    except CommandError as exc:
        return fail(str(exc), exc.code)
    except KeyboardInterrupt:
        with contextlib.suppress(BrokenPipeError):
            fail("interrupted", 130)
        return 130
