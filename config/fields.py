"""Shared pieces of the config models: the strict base model, names, URLs and the expansion environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationInfo

from config.expand import expand_vars, variable_names
from config.secret_ref import KEEP_IT_SECRET
from config.secret_registry import MIN_SECRET_LENGTH

_NAME = re.compile(r"[a-z0-9._-]+")


def environ_of(info: ValidationInfo) -> Mapping[str, str] | None:
    """The environment to expand `$VAR` from: the loader may pass one in the validation context."""
    context = info.context
    if isinstance(context, dict):
        environ = context.get("environ")
        if isinstance(environ, Mapping):
            return environ
    return None


def check_name(value: str, what: str) -> str:
    """A provider or host name: lower-case letters, digits, `.`, `_`, `-`."""
    if not value:
        raise ValueError(f"{what} must not be empty")
    if not _NAME.fullmatch(value):
        suggestion = re.sub(r"[^a-z0-9._-]+", "-", value.lower()).strip("-") or "name"
        raise ValueError(f"{what} '{value}' may use only a-z, 0-9, '.', '_' and '-' — try '{suggestion}'")
    return value


def split_v1(url: str) -> tuple[str, bool]:
    """The server root of a URL written with or without a trailing `/v1`, and whether it had one."""
    url = url.rstrip("/")
    if url.endswith("/v1"):
        return url[: -len("/v1")], True
    return url, False


def check_url(url: str, field: str = "base_url") -> str:
    """An http(s) server URL without credentials, query or fragment; returned without a trailing slash. `field`
    names the config key in the messages."""
    if not url.strip():
        raise ValueError(f"{field} must not be empty")
    if any(ch.isspace() for ch in url):
        raise ValueError(f"{field} '{url.strip()}' must not contain spaces")
    if "://" not in url:
        raise ValueError(f"{field} '{url}' needs http:// or https:// — did you mean 'http://{url}'?")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ValueError(f"{field} must not carry a user name or password — {KEEP_IT_SECRET}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{field} '{url}' must use http:// or https://, not {parts.scheme}://")
    if not parts.hostname:
        raise ValueError(f"{field} '{url}' has no host name — e.g. http://127.0.0.1:11434")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:  # urlsplit lets :0 through; nothing listens there
        raise ValueError(f"{field} '{url}' has an invalid port — a port is a number from 1 to 65535")
    if parts.query or parts.fragment:
        # Never echo a query: it is where tokens hide (`?token=…`).
        raise ValueError(f"{field} must not have a query (?…) or fragment (#…) — give the server root; "
                         "keys go in api_key")
    return url.rstrip("/")


def check_written_url(written: str, environ: Mapping[str, str] | None = None, field: str = "base_url") -> str:
    """check_url on `written` after expanding its variables; a problem is reported as written (`$OAI_KEY`), never
    with a variable's value, which may be a key someone pointed at the wrong field."""
    expanded = expand_vars(written, environ)
    try:
        return check_url(expanded, field)
    except ValueError as exc:
        if expanded == written:
            raise
        message = str(exc).replace(expanded, written)
        env = os.environ if environ is None else environ
        for name in variable_names(written):
            value = env.get(name)
            if value and len(value) >= MIN_SECRET_LENGTH:  # a shorter one (a port) is no secret and too common
                message = message.replace(value, f"${{{name}}}")
        raise ValueError(message) from None


class ConfigModel(BaseModel):
    """Frozen, rejects unknown fields, and documents each field with the docstring under it."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True,
        # A ValidationError's text must never carry a key someone pasted into a field.
        hide_input_in_errors=True,
    )
