"""config.secrets: masking, references, the name index, and error messages that never carry a secret."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from keyring.backends.fail import Keyring as FailKeyring
from keyring.errors import KeyringLocked, PasswordSetError

from config import secrets
from tests.keyring_service import MemoryKeyring

SECRET = "sk-test-9b1e77c04d2a3f9a"


@pytest.fixture
def store() -> MemoryKeyring:
    return MemoryKeyring()


def test_masked_shows_only_the_last_four_characters() -> None:
    assert secrets.masked(SECRET) == "••••••3f9a"


@pytest.mark.parametrize("secret", ["", "a", "abcdefghijk"])
def test_masked_reveals_nothing_of_a_secret_shorter_than_twelve(secret: str) -> None:
    assert secrets.masked(secret) == ""


@given(st.text())
def test_masked_never_reveals_more_than_four_characters(secret: str) -> None:
    shown = secrets.masked(secret)
    revealed = shown.removeprefix(secrets.MASK)
    assert len(revealed) <= 4
    assert shown == "" or (len(secret) >= 12 and shown == secrets.MASK + secret[-4:])


def test_env_reference_resolves_at_use_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMDECK_TEST_KEY", "first")
    assert secrets.resolve_reference("env:LLMDECK_TEST_KEY") == "first"
    monkeypatch.setenv("LLMDECK_TEST_KEY", "rotated")
    assert secrets.resolve_reference("env:LLMDECK_TEST_KEY") == "rotated"


def test_missing_env_reference_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMDECK_TEST_KEY", raising=False)
    with pytest.raises(secrets.MissingKeyError) as caught:
        secrets.resolve_reference("env:LLMDECK_TEST_KEY")
    assert str(caught.value) == "environment variable LLMDECK_TEST_KEY is not set"


def test_missing_keyring_reference_says_which_command_sets_it(store: MemoryKeyring) -> None:
    with pytest.raises(secrets.MissingKeyError) as caught:
        secrets.resolve_reference("keyring:anthropic", backend=store)
    assert str(caught.value) == "key anthropic not set — run `llmdeck keys set anthropic`"
    assert caught.value.key_name == "anthropic"


def test_keyring_reference_resolves_to_the_stored_secret(store: MemoryKeyring) -> None:
    secrets.set_key("box2-vllm", SECRET, backend=store)
    assert secrets.resolve_reference("keyring:box2-vllm", backend=store) == SECRET


@pytest.mark.parametrize("literal", [SECRET, "keyring:", "env:1BAD", "vault:thing", ""])
def test_anything_but_a_reference_is_refused_without_repeating_it(literal: str) -> None:
    with pytest.raises(secrets.InvalidReferenceError) as caught:
        secrets.resolve_reference(literal)
    assert SECRET not in str(caught.value)
    assert "keyring:NAME" in str(caught.value) or "env:VAR" in str(caught.value)


def test_the_index_holds_names_only_and_lists_sorted_masked_keys(store: MemoryKeyring) -> None:
    secrets.set_key("zeta", SECRET, backend=store)
    secrets.set_key("alpha", "short", backend=store)
    secrets.set_key("zeta", SECRET + "X", backend=store)  # replacing keeps one entry
    assert secrets.list_keys(backend=store) == [
        secrets.KeyInfo("alpha", ""),
        secrets.KeyInfo("zeta", "••••••f9aX"),
    ]
    index = store.entries[(secrets.SERVICE, secrets.INDEX_ENTRY)]
    assert SECRET not in index and "short" not in index
    assert secrets.key_names(backend=store) == ["alpha", "zeta"]


def test_a_key_removed_behind_our_back_is_not_listed(store: MemoryKeyring) -> None:
    secrets.set_key("gone", SECRET, backend=store)
    store.delete_password(secrets.SERVICE, "gone")
    assert secrets.list_keys(backend=store) == []


def test_a_damaged_index_lists_nothing_and_is_rewritten_by_the_next_set(store: MemoryKeyring) -> None:
    store.set_password(secrets.SERVICE, secrets.INDEX_ENTRY, "{not json")
    assert secrets.list_keys(backend=store) == []
    secrets.set_key("fresh", SECRET, backend=store)
    assert [info.name for info in secrets.list_keys(backend=store)] == ["fresh"]


def test_delete_removes_the_secret_and_the_name(store: MemoryKeyring) -> None:
    secrets.set_key("old", SECRET, backend=store)
    secrets.delete_key("old", backend=store)
    assert secrets.get_key("old", backend=store) is None
    assert secrets.key_names(backend=store) == []


def test_deleting_an_unknown_key_is_a_missing_key_error(store: MemoryKeyring) -> None:
    with pytest.raises(secrets.MissingKeyError, match="no key named nobody"):
        secrets.delete_key("nobody", backend=store)


@pytest.mark.parametrize("name", ["__index__", "_hidden", "has space", "a/b", "", SECRET])
def test_invalid_key_names_are_refused_without_repeating_them(store: MemoryKeyring, name: str) -> None:
    with pytest.raises(secrets.InvalidKeyNameError) as caught:
        secrets.set_key(name, SECRET, backend=store)
    assert store.entries == {}
    if name:
        assert name not in str(caught.value)


class _LeakyKeyring(MemoryKeyring):
    """A backend whose error message repeats the password, as some plugins do."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError(f"could not store {password!r} for {username}")


def test_a_backend_error_that_repeats_the_secret_is_scrubbed() -> None:
    with pytest.raises(secrets.KeyringUnavailableError) as caught:
        secrets.set_key("leaky", SECRET, backend=_LeakyKeyring())
    assert SECRET not in str(caught.value)
    assert "[secret]" in str(caught.value)


class _LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")


def test_a_locked_keyring_becomes_keyring_unavailable_with_headless_advice() -> None:
    with pytest.raises(secrets.KeyringUnavailableError) as caught:
        secrets.list_keys(backend=_LockedKeyring())
    message = str(caught.value)
    assert "locked" in message
    assert "dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets" in message
    assert "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring" in message
    assert "plaintext" in message
    assert "env:VAR" in message


def test_no_backend_becomes_keyring_unavailable_not_keyring_internals() -> None:
    with pytest.raises(secrets.KeyringUnavailableError, match="no keyring backend is available"):
        secrets.resolve_reference("keyring:anthropic", backend=FailKeyring())


def test_an_unloadable_backend_setting_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keyring.core._keyring_backend", None)  # force keyring to read the variable again
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no_such_module.Keyring")
    with pytest.raises(secrets.KeyringUnavailableError, match=r"no_such_module\.Keyring cannot be loaded"):
        secrets.load_backend()
    report = secrets.doctor()
    assert not report.usable
    assert report.backend == "no_such_module.Keyring"
    assert any("PlaintextKeyring" in line for line in report.advice)


def test_the_null_keyring_is_not_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("keyring.core._keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with pytest.raises(secrets.KeyringUnavailableError, match="stores nothing"):
        secrets.set_key("x", SECRET)
