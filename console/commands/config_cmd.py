"""`llmdeck config validate [PATH]`: every problem as FILE:LINE:COL: message, or a one-line summary."""

from __future__ import annotations

import argparse
import sys

from config.loader import ConfigError, load_config
from config.paths import locate_config
from console.exit_codes import EXIT_OK, EXIT_USAGE
from providers.safe_text import terminal_safe


def validate(args: argparse.Namespace) -> int:
    """Exit 0 and print `ok: N providers, M routes`, or exit 2 with each problem on stderr."""
    location = locate_config(getattr(args, "path", None) or getattr(args, "config", None))
    try:
        config = load_config(location.path)
    except ConfigError as exc:
        for problem in exc.problems:
            sys.stderr.write(f"{terminal_safe(str(problem))}\n")  # a quoted value may hold escape bytes
        return EXIT_USAGE
    print(f"ok: {len(config.providers)} providers, {len(config.routes)} routes")
    return EXIT_OK
