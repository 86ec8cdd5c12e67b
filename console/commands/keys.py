"""`llmdeck keys set|list|delete|doctor`: API keys in the OS keyring, shown only as masked tails."""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from config import secrets
from console.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def _fail(command: str, message: str, code: int = EXIT_FAILED) -> int:
    sys.stderr.write(f"llmdeck: keys {command}: {message}\n")
    return code


def _read_secret(name: str) -> str:
    """A hidden prompt on a terminal; otherwise stdin with one trailing newline removed. Never argv."""
    if sys.stdin is None:
        return ""
    if sys.stdin.isatty():
        try:
            return getpass.getpass(f"secret for {name} (input hidden): ")
        except EOFError:
            return ""
    text = sys.stdin.read()
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def set_key(args: argparse.Namespace) -> int:
    name: str = args.name
    if getattr(args, "argv_secret", None):
        return _fail(
            "set",
            "a secret is never taken from the command line; type it at the prompt or pipe it on stdin",
            EXIT_USAGE,
        )
    try:
        secrets.validate_key_name(name)
    except secrets.InvalidKeyNameError as exc:
        return _fail("set", str(exc), EXIT_USAGE)
    try:  # before the prompt: never ask for a secret that cannot be stored
        backend = secrets.load_backend()
        replacing = name in secrets.key_names(backend=backend)
    except secrets.SecretsError as exc:
        return _fail("set", str(exc))
    try:
        secret = _read_secret(name)
    except UnicodeDecodeError:
        return _fail("set", "the secret on stdin is not valid text", EXIT_USAGE)
    if not secret:
        return _fail("set", "empty secret", EXIT_USAGE)
    try:
        secrets.set_key(name, secret, backend=backend)
    except secrets.SecretsError as exc:
        return _fail("set", str(exc))
    tail = secrets.masked(secret)
    verb = "replaced" if replacing else "stored"
    print(f"{verb} key {name}" + (f" ({tail})" if tail else ""))
    return EXIT_OK


def list_keys(args: argparse.Namespace) -> int:
    try:
        infos = secrets.list_keys()
    except secrets.SecretsError as exc:
        return _fail("list", str(exc))
    if args.json:
        print(json.dumps([{"name": info.name, "tail": info.masked_tail} for info in infos]))
        return EXIT_OK
    if not infos:
        sys.stderr.write("no keys stored; add one with `llmdeck keys set NAME`\n")
        return EXIT_OK
    width = max(len(info.name) for info in infos)
    for info in infos:
        print(f"{info.name:<{width}}  {info.masked_tail or secrets.MASK}")
    return EXIT_OK


def delete_key(args: argparse.Namespace) -> int:
    name: str = args.name
    try:
        secrets.validate_key_name(name)
        secrets.delete_key(name)
    except secrets.InvalidKeyNameError as exc:
        return _fail("delete", str(exc), EXIT_USAGE)
    except secrets.MissingKeyError:
        return _fail("delete", f"no key named {name} (see `llmdeck keys list`)")
    except secrets.SecretsError as exc:
        return _fail("delete", str(exc))
    print(f"deleted key {name}")
    return EXIT_OK


def doctor(args: argparse.Namespace) -> int:
    report = secrets.doctor()
    if args.json:
        print(json.dumps({"backend": report.backend, "usable": report.usable, "advice": list(report.advice)},
                         indent=2))
        return EXIT_OK if report.usable else _fail("doctor", "the keyring cannot be used here; see the advice")
    print(f"backend: {report.backend}")
    print(f"usable:  {'yes' if report.usable else 'no'}")
    for line in report.advice:
        print(f"  - {line}")
    if not report.usable:
        return _fail("doctor", "the keyring cannot be used here; see the advice above")
    return EXIT_OK
