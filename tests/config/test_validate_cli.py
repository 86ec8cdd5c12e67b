"""`llmdeck config validate`: every broken config of the corpus gives its exact FILE:LINE:COL: message and exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main

HERE = Path(__file__).parent
BROKEN = sorted((HERE / "broken").glob("*.yaml"))
GOOD = sorted((HERE / "good").glob("*.yaml"))
EXAMPLE = HERE.parents[1] / "config" / "llmdeck.example.yaml"
LLMDECK = Path(sys.executable).parent / "llmdeck"
KEY_SHAPED = re.compile(r"(sk-[A-Za-z0-9_-]{16,}|vk-[A-Za-z0-9]{8,}|hunter2)")


def expected_problems(path: Path) -> list[str]:
    """The `# expect: LINE:COL: message` lines at the top of a corpus file, as full stderr lines."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{path}:{line.removeprefix('# expect: ')}" for line in lines if line.startswith("# expect: ")]


@pytest.fixture(autouse=True)
def known_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMDECK_TEST_UNSET_HOST", raising=False)
    monkeypatch.setenv("LLMDECK_TEST_BOX", "10.0.0.2")
    monkeypatch.setenv("LLMDECK_TEST_PORT", "8000")


def test_corpus_is_large_and_every_file_states_its_expectation() -> None:
    assert len(BROKEN) >= 22
    assert all(expected_problems(path) for path in BROKEN), "a corpus file without an # expect: line"


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_config_reports_exact_location_and_message(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "validate", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.splitlines() == expected_problems(path)


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_no_secret_from_the_file_is_echoed(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["config", "validate", str(path)])
    output = capsys.readouterr().err
    for secret in KEY_SHAPED.findall(path.read_text(encoding="utf-8")):
        assert secret not in output


def test_literal_api_key_is_refused_without_echoing_it(capsys: pytest.CaptureFixture[str]) -> None:
    path = HERE / "broken" / "literal_api_key.yaml"
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "api_key must be a reference" in err
    assert "sk-proj-Abc123Def456Ghi789Jkl012Mno345" not in err
    assert "Abc123" not in err


@pytest.mark.parametrize("path", [*GOOD, EXAMPLE], ids=lambda p: p.stem)
def test_good_config_passes_with_a_summary(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert re.fullmatch(r"ok: \d+ providers?, \d+ routes?\n", captured.out)


def test_example_summary_counts_providers_and_routes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "validate", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == "ok: 24 providers, 3 routes\n"


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["config", "validate", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"{missing}: no such file")


def test_path_comes_from_config_option_then_env_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(EXAMPLE), "config", "validate"]) == 0
    assert main(["config", "validate", "--config", str(EXAMPLE)]) == 0
    monkeypatch.setenv("LLMDECK_CONFIG", str(HERE / "broken" / "unknown_kind.yaml"))
    assert main(["config", "validate"]) == 2
    assert "unknown kind 'olama'" in capsys.readouterr().err
    monkeypatch.delenv("LLMDECK_CONFIG")
    assert main(["config", "validate"]) == 2
    default = isolated_home / ".config" / "llmdeck" / "config.yaml"
    assert capsys.readouterr().err.startswith(f"{default}: no such file")
    default.parent.mkdir(parents=True)
    default.write_text("providers:\n  - {name: local, kind: ollama, base_url: 'http://127.0.0.1:11434'}\n")
    assert main(["config", "validate"]) == 0
    assert capsys.readouterr().out == "ok: 1 provider, 0 routes\n"


def test_summary_counts_say_one_provider_and_one_route(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("providers:\n  - {name: local, kind: ollama, base_url: 'http://127.0.0.1:11434'}\n"
                    "routes:\n  - {alias: chat, targets: [local/llama3.2:1b]}\n", encoding="utf-8")
    assert main(["config", "validate", str(path)]) == 0
    assert capsys.readouterr().out == "ok: 1 provider, 1 route\n"


SUBPROCESS_CASES = ["unknown_kind", "tab_indentation", "circular_fallbacks", "literal_api_key", "yaml_syntax_error",
                    "everything_at_once", "misindented_key"]


@pytest.mark.parametrize("stem", SUBPROCESS_CASES)
def test_installed_command_exits_2_with_the_same_lines(stem: str) -> None:
    path = HERE / "broken" / f"{stem}.yaml"
    result = subprocess.run([str(LLMDECK), "config", "validate", str(path)], capture_output=True, text=True,
                            timeout=30, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == expected_problems(path)


def test_installed_command_accepts_the_example() -> None:
    result = subprocess.run([str(LLMDECK), "config", "validate", str(EXAMPLE)], capture_output=True, text=True,
                            timeout=30, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok: 24 providers, 3 routes\n", "")
