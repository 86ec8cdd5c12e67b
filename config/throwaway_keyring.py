"""An in-memory keyring for the demo: keys live only in this process, the user's keyring is never touched."""

from __future__ import annotations

from collections.abc import Mapping

import keyring
from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

from config.secrets import set_key


class ThrowawayKeyring(KeyringBackend):
    """A complete keyring backend over a dict; gone when the process ends."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - keyring declares priority as a class property
        # Not viable for auto-detection: it is only ever installed explicitly.
        raise RuntimeError("the throw-away keyring is only used when installed explicitly")

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


def use_throwaway_keyring(keys: Mapping[str, str]) -> ThrowawayKeyring:
    """Install a fresh in-memory keyring for this process and store `keys` in it."""
    backend = ThrowawayKeyring()
    keyring.set_keyring(backend)
    for name, secret in keys.items():
        set_key(name, secret, backend=backend)
    return backend
