"""Replies recorded from stock servers (../shared/fixtures, README there): read them, replay them, and compare
JSON by shape (keys, nesting and types) rather than by content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.hostile.hostile_server import http_reply

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_bytes())


def fixture_head(name: str) -> dict[str, str]:
    """The recorded headers (lower-cased names) of `name`.headers, whose status line is skipped."""
    lines = (FIXTURES / f"{name}.headers").read_bytes().decode().split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}


def recorded(name: str, *, content_type: str = "application/json") -> bytes:
    """The whole recorded reply: its .headers file (status line and headers) and body, byte for byte; where no
    headers were recorded, the body in a plain 200."""
    head = FIXTURES / f"{name}.headers"
    body = (FIXTURES / f"{name}.json").read_bytes()
    return head.read_bytes() + body if head.exists() else http_reply(body, content_type=content_type)


def shape(value: Any) -> Any:
    """The JSON shape of a value: keys and types, not contents (a list by the set of shapes its items take)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


def same_shape(a: Any, b: Any) -> bool:
    """Whether two shapes agree, where null on either side matches anything (a recorded `metadata: null` beside an
    object)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_shape(a[k], b[k]) for k in a)
    return a == b or "NoneType" in (a, b)
