"""`llmdeck emulate KIND`: one built-in emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import sys

from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from providers.emulators.faults import FaultSpecError
from providers.emulators.registry import EMULATORS, start_emulator
from providers.emulators.server import serve_until_interrupted


def kinds_line() -> str:
    """The kinds `llmdeck emulate` knows, for its --help."""
    return f"kinds: {', '.join(sorted(EMULATORS))}"


def run(args: argparse.Namespace) -> int:
    if args.kind not in EMULATORS:
        sys.stderr.write(f"llmdeck: emulate: unknown kind {args.kind!r}; known: {', '.join(sorted(EMULATORS))}\n")
        return EXIT_USAGE
    try:
        server = start_emulator(args.kind, faults=args.faults, port=args.port, host=args.host)
    except FaultSpecError as exc:
        sys.stderr.write(f"llmdeck: emulate: --faults: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        sys.stderr.write(f"llmdeck: emulate: cannot listen on {args.host}:{args.port}: {exc.strerror}\n")
        return EXIT_FAILED
    if args.json:  # a script that asked for --port 0 learns the address from this one line
        print(json.dumps({"kind": args.kind, "url": server.url, "faults": args.faults}), flush=True)
    else:
        print(f"{args.kind} emulator listening on {server.url}  (faults: {args.faults or 'none'}; Ctrl-C stops)",
              flush=True)
    serve_until_interrupted(server)
    return EXIT_OK
