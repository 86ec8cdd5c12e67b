"""`llmdeck keys …`: in-process against a memory keyring, and as subprocesses against a real Secret Service."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from config import secrets
from console.cli import main
from tests.keyring_service import (
    LLMDECK,
    MemoryKeyring,
    SecretServiceSession,
    base_env,
    files_containing,
    missing_binaries,
    secret_service,
)

SECRET = "sk-live-0d5c8a61e2b94f7e3f9a"
SUBPROCESS_TIMEOUT_S = 60


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    """The process-wide keyring backend swapped for a memory one (restored after the test)."""
    store = MemoryKeyring()
    monkeypatch.setattr("keyring.core._keyring_backend", store)
    assert keyring.get_keyring() is store
    return store


@pytest.fixture
def real_keyring(tmp_path: Path) -> Iterator[SecretServiceSession]:
    """A private session bus with gnome-keyring's Secret Service, unlocked; skipped where it is not installed."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"a real Secret Service needs {', '.join(missing)} (apt-get install gnome-keyring dbus-x11)")
    with secret_service(tmp_path / "ss") as session:
        yield session


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


def test_set_reads_the_secret_from_stdin_and_strips_one_newline(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, SECRET + "\n")
    assert main(["keys", "set", "openai"]) == 0
    assert memory_keyring.get_password("llmdeck", "openai") == SECRET
    out, err = capsys.readouterr()
    assert out == "stored key openai (••••••3f9a)\n"
    assert SECRET not in out + err


def test_only_one_trailing_newline_is_stripped(memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    _stdin(monkeypatch, SECRET + "\n\n")
    assert main(["keys", "set", "openai"]) == 0
    assert memory_keyring.get_password("llmdeck", "openai") == SECRET + "\n"


@pytest.mark.parametrize("stdin", ["", "\n", "\r\n"])
def test_an_empty_secret_is_a_usage_error(
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: str,
) -> None:
    _stdin(monkeypatch, stdin)
    assert main(["keys", "set", "openai"]) == 2
    assert capsys.readouterr().err == "llmdeck: keys set: empty secret\n"
    assert memory_keyring.entries == {}


def test_a_secret_in_argv_is_refused_without_echoing_it(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "set", "openai", SECRET]) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert "never taken from the command line" in err
    assert memory_keyring.entries == {}


def test_list_json_is_one_document_of_names_and_tails(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets.set_key("openai", SECRET, backend=memory_keyring)
    secrets.set_key("tiny", "abc", backend=memory_keyring)
    assert main(["keys", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == [{"name": "openai", "tail": "••••••3f9a"}, {"name": "tiny", "tail": ""}]
    assert SECRET not in out


def test_deleting_an_unknown_key_fails_with_one_line(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "delete", "nobody"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no key named nobody" in err


def test_an_invalid_key_name_is_a_usage_error(
    memory_keyring: MemoryKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "delete", "__index__"]) == 2
    assert "invalid key name" in capsys.readouterr().err


def test_a_secret_typed_as_the_name_is_refused_and_not_echoed(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "anything\n")
    assert main(["keys", "set", SECRET]) == 2
    out, err = capsys.readouterr()
    assert "looks like an API key" in err
    assert SECRET not in out + err
    assert memory_keyring.entries == {}


def _run(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LLMDECK), *argv], input=stdin, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S
    )


def test_doctor_with_the_fail_backend_prints_guidance_and_exits_1(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = _run(env, "keys", "doctor")
    assert result.returncode == 1
    assert "backend: keyring.backends.fail.Keyring" in result.stdout
    assert "usable:  no" in result.stdout
    assert "dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock" in result.stdout
    assert "PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring" in result.stdout
    assert "UNENCRYPTED" in result.stdout
    assert "env:VAR" in result.stdout
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_doctor_without_a_session_bus_says_so(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    result = _run(env, "keys", "doctor")
    assert result.returncode == 1
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_dead_session_bus_is_explained_without_a_traceback(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {
        "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}",
    }
    result = _run(env, "keys", "list")
    assert result.returncode == 1
    assert "DBUS_SESSION_BUS_ADDRESS does not answer" in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stdout + result.stderr


def test_keys_set_without_a_keyring_fails_before_reading_the_secret(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = _run(env, "keys", "set", "openai", stdin=SECRET)
    assert result.returncode == 1
    assert result.stderr.startswith("llmdeck: keys set: keyring unavailable")
    assert result.stderr.count("\n") == 1
    assert SECRET not in result.stdout + result.stderr


def _sha256_of_reference(env: dict[str, str], reference: str) -> subprocess.CompletedProcess[str]:
    """Resolve in a child process and print only a digest, so the secret itself never reaches an output."""
    code = (
        "import hashlib, sys; from config.secrets import resolve_reference; "
        "print(hashlib.sha256(resolve_reference(sys.argv[1]).encode()).hexdigest())"
    )
    return subprocess.run(
        [str(LLMDECK.parent / "python"), "-c", code, reference],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )


def test_secret_service_round_trip_never_leaks_the_secret(real_keyring: SecretServiceSession) -> None:
    env = real_keyring.env
    outputs: list[str] = []

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = _run(env, *argv, stdin=stdin)
        outputs.extend([result.stdout, result.stderr])
        return result

    doctor = run("keys", "doctor")
    assert doctor.returncode == 0, doctor.stderr
    assert "backend: keyring.backends.SecretService.Keyring" in doctor.stdout

    stored = run("keys", "set", "box2-vllm", stdin=SECRET + "\n")
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout == "stored key box2-vllm (••••••3f9a)\n"

    resolved = _sha256_of_reference(env, "keyring:box2-vllm")
    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stdout.strip() == hashlib.sha256(SECRET.encode()).hexdigest()

    listed = run("keys", "list")
    assert listed.returncode == 0
    assert listed.stdout.split() == ["box2-vllm", "••••••3f9a"]
    as_json = run("keys", "list", "--json")
    assert json.loads(as_json.stdout) == [{"name": "box2-vllm", "tail": "••••••3f9a"}]

    deleted = run("keys", "delete", "box2-vllm")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(run("keys", "list", "--json").stdout) == []
    again = run("keys", "delete", "box2-vllm")
    assert again.returncode == 1
    assert "no key named box2-vllm" in again.stderr

    missing = _sha256_of_reference(env, "keyring:box2-vllm")
    assert "key box2-vllm not set — run `llmdeck keys set box2-vllm`" in missing.stderr

    assert all(SECRET not in text for text in outputs)
    assert all("Traceback" not in text for text in outputs)
    assert (real_keyring.home / ".local" / "share" / "keyrings").is_dir()  # the encrypted store was written
    assert files_containing(real_keyring.root, SECRET) == []


def test_a_locked_collection_fails_with_unlock_advice(real_keyring: SecretServiceSession) -> None:
    env = real_keyring.env
    assert _run(env, "keys", "set", "claude", stdin=SECRET).returncode == 0
    lock = (
        "import secretstorage; from contextlib import closing\n"
        "with closing(secretstorage.dbus_init()) as bus: secretstorage.get_default_collection(bus).lock()"
    )
    locked = subprocess.run(
        [str(LLMDECK.parent / "python"), "-c", lock], env=env, capture_output=True, text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert locked.returncode == 0, locked.stderr
    result = _run(env, "keys", "list")
    assert result.returncode == 1
    assert "locked" in result.stderr
    assert "gnome-keyring-daemon --replace --unlock" in result.stderr
    assert "dbus-run-session" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    doctor = _run(env, "keys", "doctor")
    assert doctor.returncode == 1
    assert "locked" in doctor.stdout
