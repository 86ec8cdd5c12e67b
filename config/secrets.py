"""API keys in the OS keyring (service `llmdeck`), `keyring:`/`env:` references, masking, and a doctor."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import InitError, KeyringLocked, NoKeyringError, PasswordDeleteError

from config.secret_ref import SecretRef, looks_like_key, parse_secret_ref
from config.secret_registry import register_secret

SERVICE = "llmdeck"
# keyring has no "list entries" call that works on every backend, so the names (never the secrets) are kept in
# one extra entry of the same service. Key names cannot start with "_", so it never collides with a key.
INDEX_ENTRY = "__index__"
MASK = "••••••"
MIN_LENGTH_FOR_TAIL = 12
# The same names `keyring:NAME` accepts in the config (config.secret_ref).
KEY_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")

HEADLESS_SESSION = (
    "dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; llmdeck …'"
)
PLAINTEXT_BACKEND = "keyrings.alt.file.PlaintextKeyring"
_PLAINTEXT_ADVICE = (
    f"or pick a file backend: pip install keyrings.alt; export PYTHON_KEYRING_BACKEND={PLAINTEXT_BACKEND}"
    " (warning: keys are then stored UNENCRYPTED in a file under your home)"
)
_ENV_ADVICE = "or reference keys from the environment instead: `api_key: env:VAR` in the config"


class SecretsError(Exception):
    """Base of every error raised by this module; messages never contain a secret value."""


class KeyringUnavailableError(SecretsError):
    """The keyring backend cannot be used here; the message says how to fix it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"keyring unavailable ({reason}) — on a headless box run under `{HEADLESS_SESSION}`, "
            f"or set PYTHON_KEYRING_BACKEND={PLAINTEXT_BACKEND} (plaintext file!), "
            "or reference keys as `env:VAR` in the config; `llmdeck keys doctor` explains"
        )


class MissingKeyError(SecretsError):
    """A referenced key or environment variable has no value."""

    def __init__(self, message: str, *, key_name: str) -> None:
        self.key_name = key_name
        super().__init__(message)


class InvalidKeyNameError(SecretsError, ValueError):
    """A key name outside [A-Za-z0-9._@-] (first character a letter or digit)."""


class InvalidReferenceError(SecretsError, ValueError):
    """Text that is not a `keyring:NAME` / `env:VAR` reference (the text itself is never repeated)."""


@dataclass(frozen=True)
class KeyInfo:
    """A stored key as it may be shown: its name and a masked tail."""

    name: str
    masked_tail: str


@dataclass(frozen=True)
class DoctorReport:
    """Which keyring backend is active, whether it works, and what to do when it does not."""

    backend: str
    usable: bool
    advice: tuple[str, ...]


def masked(secret: str) -> str:
    """`••••••` plus the last 4 characters; no character at all when the secret is shorter than 12."""
    if len(secret) < MIN_LENGTH_FOR_TAIL:
        return ""
    return MASK + secret[-4:]


def validate_key_name(name: str) -> str:
    """Return `name` when it is a valid key name, else InvalidKeyNameError (whose message never repeats it)."""
    if looks_like_key(name):
        raise InvalidKeyNameError("that NAME looks like an API key itself: give a name; the secret is asked for next")
    if not KEY_NAME_PATTERN.fullmatch(name):
        raise InvalidKeyNameError(
            "invalid key name: use letters, digits, '.', '_', '@' or '-' (first a letter or digit)"
        )
    return name


def backend_name(backend: KeyringBackend) -> str:
    """The dotted class path, as PYTHON_KEYRING_BACKEND spells it."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def load_backend() -> KeyringBackend:
    """The active keyring backend (PYTHON_KEYRING_BACKEND, keyringrc.cfg, or the best detected one)."""
    wanted = os.environ.get("PYTHON_KEYRING_BACKEND", "")
    try:
        backend = keyring.get_keyring()
    except (ImportError, AttributeError, ValueError) as exc:
        raise KeyringUnavailableError(f"PYTHON_KEYRING_BACKEND={wanted} cannot be loaded: {_detail(exc)}") from exc
    except Exception as exc:  # a backend's viability check raises anything (RuntimeError, dbus errors)
        raise KeyringUnavailableError(f"{wanted or 'backend detection'}: {_explain(exc)}") from exc
    if backend_name(backend) == "keyring.backends.null.Keyring":
        raise KeyringUnavailableError("the null keyring is configured (it stores nothing; `keyring --disable`?)")
    return backend


def _store(backend: KeyringBackend | None) -> KeyringBackend:
    return backend if backend is not None else load_backend()


def set_key(name: str, secret: str, *, backend: KeyringBackend | None = None) -> None:
    """Store `secret` under `name` (replacing any previous value) and record the name in the index."""
    validate_key_name(name)
    if not secret:
        raise SecretsError("empty secret")
    register_secret(secret)  # before the backend sees it: its errors are scrubbed of it too
    store = _store(backend)
    with _keyring_errors(store, secret):
        store.set_password(SERVICE, name, secret)
    names = _read_index(store)
    if name not in names:
        _write_index(store, sorted({*names, name}))


def get_key(name: str, *, backend: KeyringBackend | None = None) -> str | None:
    """The secret stored under `name`, or None when there is none."""
    validate_key_name(name)
    store = _store(backend)
    with _keyring_errors(store):
        secret = store.get_password(SERVICE, name)
    register_secret(secret)  # every value read is scrubbed from whatever text may carry it later
    return secret


def delete_key(name: str, *, backend: KeyringBackend | None = None) -> None:
    """Remove the key, then its index entry; MissingKeyError when no such key exists."""
    store = _store(backend)
    exists = get_key(name, backend=store) is not None
    if exists:
        with _keyring_errors(store), suppress(PasswordDeleteError):  # gone meanwhile: what was asked for
            store.delete_password(SERVICE, name)
        if get_key(name, backend=store) is not None:
            raise KeyringUnavailableError(f"{backend_name(store)}: the key could not be deleted")
    names = _read_index(store)
    if name in names:
        _write_index(store, [n for n in names if n != name])
    if not exists:
        raise MissingKeyError(f"no key named {name}", key_name=name)


def key_names(*, backend: KeyringBackend | None = None) -> list[str]:
    """The names in the index, sorted (reads no secret; also a cheap check that the backend works)."""
    return _read_index(_store(backend))


def list_keys(*, backend: KeyringBackend | None = None) -> list[KeyInfo]:
    """Every indexed key that still has a value, sorted by name, with masked tails only."""
    store = _store(backend)
    infos: list[KeyInfo] = []
    for name in _read_index(store):
        secret = get_key(name, backend=store)
        if secret is not None:  # removed behind our back (e.g. with another keyring tool): not listed
            infos.append(KeyInfo(name=name, masked_tail=masked(secret)))
    return infos


def resolve_reference(reference: str | SecretRef, *, backend: KeyringBackend | None = None) -> str:
    """The secret a `keyring:NAME` / `env:VAR` reference points at, read now (at use time, never cached)."""
    if isinstance(reference, str):
        try:
            reference = parse_secret_ref(reference)
        except ValueError as exc:  # its message never repeats the text, which may be a literal key
            raise InvalidReferenceError(str(exc)) from None
    if reference.source == "env":
        value = os.environ.get(reference.name)
        if not value:
            raise MissingKeyError(f"environment variable {reference.name} is not set", key_name=reference.name)
        register_secret(value)
        return value
    name = reference.name
    secret = get_key(name, backend=backend)
    if not secret:
        raise MissingKeyError(f"key {name} not set — run `llmdeck keys set {name}`", key_name=name)
    return secret


def register_environment_secrets(references: Iterable[SecretRef]) -> None:
    """Register the values of the `env:VAR` references among `references` with the redactor, without using them.

    For checks that must know a secret before any request has resolved it (a restart argv); the keyring is not
    read, since that may prompt the operator."""
    for reference in references:
        if reference.source == "env":
            register_secret(os.environ.get(reference.name))


def doctor() -> DoctorReport:
    """Load the backend and read the index once (no writes); report what is active and how to fix it."""
    name = os.environ.get("PYTHON_KEYRING_BACKEND") or "(none usable)"
    try:
        store = load_backend()
        name = backend_name(store)
        _read_index(store)
    except KeyringUnavailableError as exc:
        return DoctorReport(name, usable=False, advice=(f"not usable: {exc.reason}", *_fix_advice()))
    if "plaintext" in name.lower():
        return DoctorReport(name, usable=True, advice=(f"warning: {name} stores keys UNENCRYPTED in a file",))
    return DoctorReport(name, usable=True, advice=("keys are stored and read through this backend",))


def _fix_advice() -> list[str]:
    lines: list[str] = []
    if sys.platform.startswith("linux"):
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
            lines.append("DBUS_SESSION_BUS_ADDRESS is not set: there is no D-Bus session bus in this shell")
        if shutil.which("gnome-keyring-daemon") is None or shutil.which("dbus-run-session") is None:
            lines.append("install a Secret Service: apt-get install gnome-keyring dbus-x11 (or your distro's packages)")
    lines += [
        f"on a headless box run llmdeck under a private Secret Service: {HEADLESS_SESSION}",
        _PLAINTEXT_ADVICE,
        _ENV_ADVICE,
    ]
    return lines


def _read_index(store: KeyringBackend) -> list[str]:
    with _keyring_errors(store):
        raw = store.get_password(SERVICE, INDEX_ENTRY)
    if not raw:
        return []
    try:
        decoded = json.loads(raw)
    except ValueError:
        return []  # a damaged index only hides names; the next `keys set` rewrites it
    if not isinstance(decoded, list):
        return []
    return sorted({n for n in decoded if isinstance(n, str) and KEY_NAME_PATTERN.fullmatch(n)})


def _write_index(store: KeyringBackend, names: list[str]) -> None:
    with _keyring_errors(store):
        store.set_password(SERVICE, INDEX_ENTRY, json.dumps(sorted(names)))


@contextmanager
def _keyring_errors(store: KeyringBackend, secret: str = "") -> Iterator[None]:
    """Turn whatever a backend raises (keyring, SecretStorage, jeepney, OS errors) into KeyringUnavailableError."""
    try:
        yield
    except KeyringLocked as exc:
        raise KeyringUnavailableError(
            f"{backend_name(store)}: the keyring is locked and no unlock prompt could be shown; unlock it with "
            "`echo -n PASSWORD | gnome-keyring-daemon --replace --unlock --components=secrets`"
        ) from exc
    except NoKeyringError as exc:
        raise KeyringUnavailableError(f"{backend_name(store)}: no keyring backend is available") from exc
    except InitError as exc:
        raise KeyringUnavailableError(f"{backend_name(store)}: {_detail(exc, secret)}") from exc
    except Exception as exc:  # backends are plugins: SecretStorage and D-Bus errors are not KeyringError
        raise KeyringUnavailableError(f"{backend_name(store)}: {_explain(exc, secret)}") from exc


def _explain(exc: Exception, secret: str = "") -> str:
    """An unexpected backend error in operator terms; a socket error usually means the session bus is gone."""
    if isinstance(exc, OSError) and os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return f"the D-Bus session bus in DBUS_SESSION_BUS_ADDRESS does not answer ({_detail(exc)})"
    return f"{type(exc).__name__}: {_detail(exc, secret)}"


def _detail(exc: BaseException, secret: str = "") -> str:
    """First line of an exception's message, bounded, with the secret (if any) removed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if secret:
        text = text.replace(secret, "[secret]")
    return text[:200]
