"""Secret references (`keyring:NAME`, `env:VAR`) and the shapes of literal keys that must never sit in a file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SecretSource = Literal["keyring", "env"]

_KEYRING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHELL_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")

# Well-known key shapes (OpenAI, Anthropic, OpenRouter, DeepSeek: sk-…; Hugging Face, GitHub, AWS, Google, Groq,
# Replicate). Anything matching is treated as a leaked secret wherever it appears.
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])("
    r"sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{30,}|gsk_[A-Za-z0-9]{20,}|r8_[A-Za-z0-9]{20,}"
    r")"
)

KEEP_IT_SECRET = "store the key with `llmdeck keys set NAME` and write `api_key: keyring:NAME` (or `env:VAR`)"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where a secret lives; resolved only when a request needs it, never at load time."""

    source: SecretSource
    name: str

    def __str__(self) -> str:
        return f"{self.source}:{self.name}"


def is_reference(text: str) -> bool:
    """True when the text is written as a reference (valid or not), i.e. it names a secret instead of holding one."""
    return text.startswith(("keyring:", "env:"))


def parse_secret_ref(text: str) -> SecretRef:
    """Parse `keyring:NAME` or `env:VAR`; ValueError otherwise. The message never repeats the text."""
    source, sep, name = text.partition(":")
    if sep and source == "keyring":
        if not _KEYRING_NAME.fullmatch(name):
            raise ValueError("keyring reference needs a key name: keyring:NAME (letters, digits, . _ @ -)")
        return SecretRef("keyring", name)
    if sep and source == "env":
        if not _ENV_NAME.fullmatch(name):
            raise ValueError("env reference needs a variable name: env:VAR (letters, digits and _, not starting "
                             "with a digit)")
        return SecretRef("env", name)
    shell = _SHELL_VAR.fullmatch(text)
    if shell:
        # `${VAR}` is a variable name, not a secret, so naming it back is safe and helpful.
        raise ValueError(f"write the reference as env:{shell.group(1)} — api_key is never expanded from the shell")
    raise ValueError(f"api_key must be a reference, never the key itself — {KEEP_IT_SECRET}")


def looks_like_key(text: str) -> bool:
    """True when the text contains something shaped like a real API key."""
    return _KEY_SHAPES.search(text) is not None
