"""Shared by the headless commands: load the config, build a Deck, and report failures as exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config.loader import ConfigError, load_config, load_discovery_config
from config.paths import data_dir, locate_config
from config.schema import DeckConfig
from console.exit_codes import EXIT_FAILED, EXIT_USAGE
from providers.deck import Deck
from providers.host_context import chosen_host, host_names, host_problem
from providers.monitor import MonitorPolicy
from providers.safe_text import terminal_safe


class CommandError(Exception):
    """A failure to report as one line on stderr with an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def load_cli_config(args: argparse.Namespace) -> DeckConfig:
    """The config named by --config / $LLMDECK_CONFIG / XDG; with none at all, the usual local ports."""
    location = locate_config(getattr(args, "config", None))
    if not location.path.exists():
        if location.explicit:
            raise CommandError(f"config file {location.path} does not exist", EXIT_USAGE)
        return load_discovery_config()
    try:
        return load_config(location.path)
    except ConfigError as exc:
        raise CommandError("\n".join(str(problem) for problem in exc.problems), EXIT_USAGE) from None


@asynccontextmanager
async def open_deck(args: argparse.Namespace) -> AsyncIterator[Deck]:
    """A started Deck without the background monitor (commands probe on demand). CommandError (exit 1) when the
    ledger cannot be opened, or a row could not be written while the command ran."""
    deck = Deck(load_cli_config(args), data_dir(), monitor_policy=MonitorPolicy(probe_timeout_s=5.0))
    await deck.start(monitor=False)
    if deck.ledger_problem is not None:  # a command that cannot keep its record says so before it acts
        await deck.stop()
        raise CommandError(deck.ledger_problem, EXIT_FAILED)
    try:
        yield deck
    finally:
        await deck.stop()
    if deck.ledger_problem is not None:  # the operation ran, but its row is not on record
        raise CommandError(deck.ledger_problem, EXIT_FAILED)


def host_context_of(args: argparse.Namespace, config: DeckConfig) -> str | None:
    """The host `--host NAME` chose (None: every host); an unknown one is a usage error naming the nearest."""
    name = getattr(args, "host_context", None)
    if name and (problem := host_problem(name, host_names(config))) is not None:
        raise CommandError(problem, EXIT_USAGE)
    return chosen_host(name)


def fail(message: str, code: int = EXIT_FAILED) -> int:
    """One error line (or a few, for config problems) on stderr; a backend's words in it are made terminal-safe."""
    sys.stderr.write(f"llmdeck: {terminal_safe(message)}\n")
    return code
