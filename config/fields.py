"""Shared pieces of the config models: the strict base model, names, URLs and the expansion environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationInfo

from config.secret_ref import KEEP_IT_SECRET

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


def check_url(url: str) -> str:
    """An http(s) server URL without credentials, query or fragment; returned without a trailing slash."""
    if not url.strip():
        raise ValueError("base_url must not be empty")
    if any(ch.isspace() for ch in url):
        raise ValueError(f"base_url '{url.strip()}' must not contain spaces")
    if "://" not in url:
        raise ValueError(f"base_url '{url}' needs http:// or https:// — did you mean 'http://{url}'?")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ValueError(f"base_url must not carry a user name or password — {KEEP_IT_SECRET}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"base_url '{url}' must use http:// or https://, not {parts.scheme}://")
    if not parts.hostname:
        raise ValueError(f"base_url '{url}' has no host name — e.g. http://127.0.0.1:11434")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"base_url '{url}' has an invalid port") from None
    if parts.query or parts.fragment:
        # Never echo a query: it is where tokens hide (`?token=…`).
        raise ValueError("base_url must not have a query (?…) or fragment (#…) — give the server root; "
                         "keys go in api_key")
    return url.rstrip("/")


class ConfigModel(BaseModel):
    """Frozen, rejects unknown fields, and documents each field with the docstring under it."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True,
        # A ValidationError's text must never carry a key someone pasted into a field.
        hide_input_in_errors=True,
    )
