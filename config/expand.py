"""Environment-variable (`${VAR}`, `${VAR:-default}`, `$VAR`, `$$`) and `~` expansion for config values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<dollar>\$))"
)


class UnsetVariableError(ValueError):
    """A value names an environment variable that is not set."""


def expand_vars(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace `${VAR}`, `${VAR:-default}` and `$VAR` from the environment; `$$` is a literal `$`.

    An unset variable without a default raises UnsetVariableError naming it, rather than leaving `$VAR` in a URL.
    """
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        if match.group("dollar"):
            return "$"
        name = match.group("braced") or match.group("bare")
        value = env.get(name)
        if value is not None:
            return value
        default = match.group("default")
        if default is not None:
            return default
        raise UnsetVariableError(f"environment variable ${name} is not set — export it or write the value here")

    return _VARIABLE.sub(substitute, text)


def variable_names(text: str) -> list[str]:
    """The names of the variables `text` refers to, in order (a `$$` escape refers to none)."""
    return [name for match in _VARIABLE.finditer(text) if (name := match.group("braced") or match.group("bare"))]


def expand_user(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Expand a leading `~` or `~/` to the home directory (from HOME in `environ`, as a shell would)."""
    if text != "~" and not text.startswith("~/"):
        return text
    env = os.environ if environ is None else environ
    home = env.get("HOME") or str(Path.home())
    return home + text[1:]


def expand_path(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Environment variables, then a leading `~`, as a user expects in a file path."""
    return expand_user(expand_vars(text, environ), environ)
