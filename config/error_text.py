"""Pydantic validation errors turned into one-line messages that say what to write instead."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from config.bounds import number_text
from config.kinds import closest
from config.secret_ref import looks_like_key

DataPath = tuple[str | int, ...]

_SENSITIVE_FIELDS = frozenset({"api_key", "headers"})


def _unwrap(annotation: Any) -> Any:
    """`X | None` → X; other unions are left alone."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def fields_at(root: type[BaseModel], path: DataPath) -> list[str]:
    """Field names of the model found at `path` under `root`; empty when the path leads elsewhere."""
    annotation: Any = root
    for part in path:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(part, str) and isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return []
            annotation = field.annotation
        elif isinstance(part, int) and origin in (list, tuple):
            annotation = get_args(annotation)[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def label(path: DataPath) -> str:
    """The field as the operator wrote it: its key, with any list indexes after it (`restart[2]`)."""
    end = len(path)
    while end > 0 and isinstance(path[end - 1], int):
        end -= 1
    name = str(path[end - 1]) if end else "the config"
    return name + "".join(f"[{index}]" for index in path[end:])


def _shown(value: Any, *, sensitive: bool) -> str:
    """`, not 'thirty'` — the offending value, unless it might be a secret."""
    if sensitive or (isinstance(value, str) and looks_like_key(value)):
        return ""
    if value is None:
        return ", not empty"
    if isinstance(value, bool):
        return f", not {str(value).lower()}"
    if isinstance(value, int | float):
        return f", not {number_text(value)}"
    if isinstance(value, str):
        return f", not '{value[:40]}{'…' if len(value) > 40 else ''}'"
    if isinstance(value, list):
        return ", not a list"
    if isinstance(value, dict):
        return ", not a mapping"
    return ""


def _unknown_field(path: DataPath, root: type[BaseModel]) -> str:
    name = str(path[-1])
    allowed = fields_at(root, path[:-1])
    guess = closest(name, allowed)
    if guess:
        return f"unknown field '{name}' — did you mean '{guess}'?"
    if allowed:
        return f"unknown field '{name}'; allowed: {', '.join(allowed)}"
    return f"unknown field '{name}'"


_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "tuple": "a list",
    "dict": "a mapping (key: value)",
    "model": "a mapping (key: value)",
    "model_attributes": "a mapping (key: value)",
}

_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


_KEY_MARK = "[key]"
"""The last part of a pydantic error's location when a mapping's key, not its value, is wrong."""


def describe(error: ErrorDetails, root: type[BaseModel]) -> tuple[DataPath, bool, str]:
    """(data path, whether to point at the key rather than the value, message) for one pydantic error."""
    path: DataPath = tuple(error["loc"])
    if path[-1:] == (_KEY_MARK,):
        return path[:-1], True, _describe(error, root, path[:-1])[2]
    return _describe(error, root, path)


def _describe(error: ErrorDetails, root: type[BaseModel], path: DataPath) -> tuple[DataPath, bool, str]:
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    sensitive = any(part in _SENSITIVE_FIELDS for part in path)
    field = label(path)
    if kind == "missing":
        return path, False, f"missing required field '{field}' — add `{field}: …` to this entry"
    if kind == "extra_forbidden":
        return path, True, _unknown_field(path, root)
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return path, False, str(ctx["error"])
    family = kind.removesuffix("_type").removesuffix("_parsing").removesuffix("_from_float")
    if family in _TYPE_WORDS and kind != family:
        message = f"{field} must be {_TYPE_WORDS[family]}{_shown(value, sensitive=sensitive)}"
        if family == "string" and isinstance(value, int | float) and not sensitive:
            message += " — quote it"
        elif family in ("list", "tuple") and isinstance(value, dict):
            message += " — start each entry with '- '"
        return path, False, message
    if kind == "int_parsing_size":
        return path, False, f"{field} must be a whole number{_shown(value, sensitive=sensitive)}"
    if kind == "finite_number":
        return path, False, f"{field} must be a finite number{_shown(value, sensitive=sensitive)}"
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        bound = ctx.get(key)
        shown = f"{bound:g}" if isinstance(bound, float) else str(bound)
        return path, False, f"{field} must be {words} {shown}{_shown(value, sensitive=sensitive)}"
    if kind in ("too_short", "string_too_short"):
        return path, False, f"{field} must not be empty"
    if kind == "literal_error":
        return path, False, f"{field} must be one of {ctx.get('expected')}{_shown(value, sensitive=sensitive)}"
    return path, False, f"{field}: {error['msg']}"
