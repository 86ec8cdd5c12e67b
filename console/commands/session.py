"""Shared by the headless commands: load the config, build a Deck, and report failures as exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from config.loader import ConfigError, load_config, load_discovery_config
from config.paths import data_dir, locate_config
from config.schema import DeckConfig
from providers.deck import Deck
from providers.monitor import MonitorPolicy

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
    """A started Deck without the background monitor (commands probe on demand)."""
    deck = Deck(load_cli_config(args), data_dir(), monitor_policy=MonitorPolicy(probe_timeout_s=5.0))
    await deck.start(monitor=False)
    try:
        yield deck
    finally:
        await deck.stop()


def fail(message: str, code: int = EXIT_FAILED) -> int:
    sys.stderr.write(f"llmdeck: {message}\n")
    return code
