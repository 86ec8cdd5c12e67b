"""A restart argv as written in the config: checked at load, shown with its `${VAR}` references, expanded at exec.

Argv is public: every user of the machine reads it in `ps` and /proc/PID/cmdline while the command runs. So the
config keeps each argument as written (the confirmation shows `${VAR}`, never its value), variables are expanded
only when the command starts, and a variable that names a secret is refused outright: the command inherits
llmdeck's environment, so it can read the variable itself, e.g. `[sh, -c, 'curl -H "Authorization: Bearer
$$LAB_TOKEN" http://box2:9000/restart']` (`$$` is a literal `$`, so the shell in the child expands it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from config.expand import expand_path, variable_names

# Names that say "secret". A name ending in _FILE, _PATH or _DIR names where a secret lives, which is no secret.
_SECRET_NAME = re.compile(r"(?i)(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|AUTH|CREDENTIALS?|COOKIE)S?(_|$)")
_LOCATION_NAME = re.compile(r"(?i)_(FILE|PATH|DIR)$")
SHELLS = frozenset({"sh", "bash", "zsh", "dash", "fish", "ksh", "mksh", "ash", "csh", "tcsh"})


def names_a_secret(variable: str) -> bool:
    """True when the variable's name says it holds a key, token or password."""
    return _SECRET_NAME.search(variable) is not None and _LOCATION_NAME.search(variable) is None


def secret_variable_advice(variable: str) -> str:
    """Why `$variable` may not be an argument, and what to write instead (names only, never a value)."""
    return (f"${variable} holds a secret, and a restart argument is visible to every user in `ps` — the command "
            f"inherits llmdeck's environment, so let it read the variable itself, e.g. [sh, -c, 'your-command "
            f"\"$${variable}\"'] ($$ is a literal $, expanded by that shell)")


def check_restart_arg(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Return the argument as written, after checking that its variables are set and none names a secret.

    Raises UnsetVariableError (a ValueError) for an unset variable without a default, ValueError for a secret.
    """
    for name in variable_names(text):
        if names_a_secret(name):
            raise ValueError(secret_variable_advice(name))
    expand_path(text, environ)  # only to report an unset variable now, at its own argument
    return text


def expand_restart_argv(argv: tuple[str, ...], environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The argv to execute: variables and a leading `~` expanded from `environ` (default: this process's)."""
    return tuple(expand_path(arg, environ) for arg in argv)


def shell_of(argv: tuple[str, ...]) -> str | None:
    """The shell that will read the command, when argv[0] is one (directly or through `env`), else None."""
    words = list(argv)
    if words and PurePosixPath(words[0]).name == "env":
        # `env [-i] [NAME=value…] COMMAND`: the command is the first word that is neither an option nor a setting.
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    if not words:
        return None
    name = PurePosixPath(words[0]).name
    return name if name in SHELLS else None


def how_it_runs(argv: tuple[str, ...]) -> str:
    """A few words on who interprets the argv, for the confirmation: `no shell`, or which shell reads it."""
    shell = shell_of(argv)
    if shell is not None:
        return f"runs the shell {shell}, which expands and interprets its command text"
    if argv and PurePosixPath(argv[0]).name == "ssh":
        return "over ssh: the remote login shell interprets the command"
    return "no shell"
