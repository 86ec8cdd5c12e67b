"""Reads plain `rnstatus` output: the interfaces its text view lists, in order, with whether each is up."""

from __future__ import annotations

import re

_NAME = re.compile(r"^ (\S.*)$")
_STATUS = re.compile(r"^    Status    : (Up|Down)")


def text_view_interfaces(text: str) -> list[tuple[str, bool]]:
    """(name, up) for every interface block: ` Name` on its own line, then `    Status    : Up|Down`."""
    found: list[tuple[str, bool]] = []
    name: str | None = None
    for line in text.splitlines():
        if (match := _NAME.match(line)) is not None:
            name = match.group(1)
        elif name is not None and (match := _STATUS.match(line)) is not None:
            found.append((name, match.group(1) == "Up"))
            name = None
    return found
