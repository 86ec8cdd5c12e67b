"""`llmdeck serve-metrics`: the Deck headless, its health monitor running, serving /metrics until SIGINT, SIGTERM
or SIGHUP; and the console's own endpoint while it runs, when `ui.metrics_listen` is set. No Textual here."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys

from config.listen_address import split_listen_address
from config.paths import data_dir
from config.schema import DeckConfig
from console.commands.chat_stop import ChatStop
from console.commands.session import CommandError, fail, load_cli_config
from console.exit_codes import EXIT_OK, EXIT_USAGE
from providers.deck import Deck
from providers.metrics_export import deck_registry
from providers.metrics_server import MetricsServer
from providers.monitor import MonitorPolicy
from providers.safe_text import one_line


def listen_address(listen: str, where: str) -> tuple[str, int]:
    """(address, port) of ADDR:PORT (port 0: a free one); CommandError (exit 2) naming `where` it was given."""
    try:
        return split_listen_address(listen, free_port=True)
    except ValueError as exc:
        raise CommandError(f"{where}: {exc}", EXIT_USAGE) from None


class MetricsService:
    """A Deck's /metrics endpoint, started after the Deck and stopped before it. An address that cannot be used
    (in use, not this machine's) is a CommandError (exit 2) naming `where` it was given."""

    def __init__(self, deck: Deck, listen: str | None, where: str) -> None:
        self.address = None if listen is None else listen_address(listen, where)
        self.where = where
        self.server: MetricsServer | None = None
        self._deck = deck

    async def start(self) -> MetricsServer | None:
        """Listen, when there is an address; the server, or None."""
        if self.address is None:
            return None
        server = MetricsServer(deck_registry(self._deck))
        host, port = self.address
        try:
            await server.start(host, port)
        except OSError as exc:
            raise CommandError(f"{self.where}: cannot listen on {host}:{port}: {_why(exc)}", EXIT_USAGE) from None
        self.server = server
        return server

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()


def _why(exc: OSError) -> str:
    """Why an address cannot be listened on, in a few words."""
    if isinstance(exc, socket.gaierror):  # a name that does not resolve: the resolver's words
        return one_line(str(exc.strerror))
    # asyncio words a failed bind as "error while attempting to bind on address …"; the errno says it short
    return one_line(os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__)


def console_metrics(deck: Deck) -> MetricsService:
    """The console's endpoint: serves only when `ui.metrics_listen` is set (read at start, as all of `ui`)."""
    return MetricsService(deck, deck.config.ui.metrics_listen, "ui.metrics_listen")


def _monitor_policy(config: DeckConfig) -> MonitorPolicy:
    # The console's pace (console/commands/tui.py, which pulls in the terminal side to import): same two numbers.
    return MonitorPolicy(interval_s=config.ui.refresh_s, fast_interval_s=min(1.0, config.ui.refresh_s))


async def _serve(args: argparse.Namespace) -> int:
    listen_address(args.listen, "serve-metrics: --listen")  # a bad address fails before anything starts
    config = load_cli_config(args)
    deck = Deck(config, data_dir(), monitor_policy=_monitor_policy(config))
    service = MetricsService(deck, args.listen, "serve-metrics: --listen")
    await deck.start()
    try:
        if deck.ledger_problem is not None:  # health and this run's numbers still count; spend starts from 0
            sys.stderr.write(f"llmdeck: serve-metrics: no history: {one_line(deck.ledger_problem)}\n")
        server = await service.start()
        url = server.url if server is not None else args.listen
        sys.stderr.write(f"llmdeck: serve-metrics: serving {url} (SIGINT, SIGTERM or SIGHUP stops)\n")
        sys.stderr.flush()
        with ChatStop() as stop:  # a CLI chat's signal handling: an orderly end, a watchdog bounding it
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError as exc:
                stop.absorb(exc)
    finally:
        await service.stop()
        await deck.stop()
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_serve(args))
    except CommandError as exc:
        return fail(str(exc), exc.code)
