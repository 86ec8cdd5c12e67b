"""`llmdeck config validate [PATH]`: every problem as FILE:LINE:COL: message, or a one-line summary."""

from __future__ import annotations

import argparse
import json
import sys

from config.loader import ConfigError, load_config
from config.paths import locate_config
from console.exit_codes import EXIT_OK, EXIT_USAGE
from providers.display import count
from providers.safe_text import terminal_safe


def validate(args: argparse.Namespace) -> int:
    """Exit 0 and print `ok: 2 providers, 1 route`, or exit 2 with each problem on stderr.
    With --json, stdout has `{path, ok, providers, routes, problems: [{file, line, col, message}]}` either way."""
    location = locate_config(getattr(args, "path", None) or getattr(args, "config", None))
    as_json: bool = getattr(args, "json", False)
    try:
        config = load_config(location.path)
    except ConfigError as exc:
        if as_json:
            problems = [{"file": p.file, "line": p.line, "col": p.col, "message": p.message} for p in exc.problems]
            print(json.dumps({"path": str(location.path), "ok": False, "providers": None, "routes": None,
                              "problems": problems}, indent=2))
        for problem in exc.problems:
            sys.stderr.write(f"{terminal_safe(str(problem))}\n")  # a quoted value may hold escape bytes
        return EXIT_USAGE
    if as_json:
        print(json.dumps({"path": str(location.path), "ok": True, "providers": len(config.providers),
                          "routes": len(config.routes), "problems": []}, indent=2))
    else:
        print(f"ok: {count(len(config.providers), 'provider')}, {count(len(config.routes), 'route')}")
    return EXIT_OK
