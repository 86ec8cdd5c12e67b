"""Hostile config files: alias bombs, deep nesting, huge numbers, NUL bytes and absurd settings are refused fast.

Each case is a file written here and checked through `llmdeck config validate` as a real subprocess: exit 2,
one `FILE:LINE:COL: message` line per problem, no traceback; for the bombs also the child's own peak RSS and CPU
time, measured for that child alone (tests/hostile/rss_runner.py), so no other process of the test run counts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.loader import check_text
from config.schema import DeckConfig
from tests.waiting import HANG_S, wait_for_condition_sync

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("rss_runner.py")

BOMB_RSS_KB = 150 * 1024
"""Peak RSS a refused bomb may reach: the interpreter and its imports take about 35 MB; before the limits a
7-level alias bomb took 2.7 GB."""
BOMB_CPU_S = 10.0
"""CPU seconds a refused bomb may cost (startup included; before the limits a 7-level bomb took 82 s). CPU time,
unlike wall time, does not grow when the machine is loaded."""

PROVIDER = "providers:\n  - name: box\n    kind: ollama\n    base_url: http://127.0.0.1:11434\n"


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str
    max_rss_kb: int
    cpu_s: float


def run_cli(tmp_path: Path, *args: str) -> Outcome:
    """Run `llmdeck ARGS` under a small runner that reports its one child's peak RSS (a child forked straight from
    this big test process would count this process's pages as its own), and reap the runner with wait4 for the
    CPU time of both."""
    out, err, rss = tmp_path / "stdout.txt", tmp_path / "stderr.txt", tmp_path / "rss.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONIOENCODING": "utf-8"}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, str(RUNNER), str(rss), sys.executable, "-m", "console.cli", *args],
                                stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, env=env, cwd=tmp_path)
    reaped: list[tuple[int, int, os.struct_rusage]] = []

    def exited() -> bool:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            reaped.append((pid, status, usage))
        return bool(reaped)

    try:
        wait_for_condition_sync(exited, what="llmdeck to exit", timeout_s=HANG_S)
    except AssertionError:
        proc.kill()
        proc.wait()
        raise
    _, status, usage = reaped[0]
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keeps Popen from waiting again
    return Outcome(proc.returncode, out.read_text(encoding="utf-8", errors="replace"),
                   err.read_text(encoding="utf-8", errors="replace"), int(rss.read_text(encoding="utf-8")),
                   usage.ru_utime + usage.ru_stime)


def assert_problems(outcome: Outcome, path: Path, expected: list[tuple[int, int, str]]) -> None:
    """Exit 2, nothing on stdout, exactly one `FILE:LINE:COL: …` line per expected problem, in order."""
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert "\x1b" not in outcome.stderr
    assert outcome.code == 2, outcome.stderr
    assert outcome.stdout == ""
    lines = outcome.stderr.splitlines()
    assert len(lines) == len(expected), outcome.stderr
    for line, (row, col, fragment) in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{row}:{col}: "), line
        assert fragment in line, line


def laughs(levels: int) -> str:
    """The classic "billion laughs": each level is nine aliases of the one before."""
    lines = ["a: &a [l,l,l,l,l,l,l,l,l]"]
    for level in range(1, levels + 1):
        this, before = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{this}: &{this} [{','.join([f'*{before}'] * 9)}]")
    return "\n".join(lines) + "\n"


# name -> (file bytes, [(line, col, part of the message)])
BOMBS: dict[str, tuple[bytes, list[tuple[int, int, str]]]] = {
    # the fourth level's first alias (*d, 7,381 values) takes the aliases past 10,000 values
    "billion_laughs_7_levels": (laughs(7).encode(), [(5, 8, "aliases expand to more than 10,000 values")]),
    "billion_laughs_9_levels": (laughs(9).encode(), [(5, 8, "aliases expand to more than 10,000 values")]),
    "recursive_sequence_anchor": (b"providers: &a [*a]\n", [(1, 16, "alias *a is inside its own anchor &a")]),
    "recursive_mapping_anchor": (b"ui: &m {keys: *m}\n", [(1, 15, "alias *m is inside its own anchor &m")]),
    # root, ui and 30 brackets are 32 levels; the 31st bracket is one too many
    "flow_nesting_5000_deep": (("ui:\n  keys: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
                               [(2, 39, "nested more than 32 levels deep")]),
    "block_nesting_2000_deep": (("ui:\n  keys:\n  " + "- " * 2000 + "x\n").encode(),
                                [(3, 63, "nested more than 32 levels deep")]),
    "alias_nesting_past_the_depth": (
        ("a: &a " + "[" * 20 + "]" * 20 + "\nb: " + "[" * 20 + "*a" + "]" * 20 + "\n").encode(),
        [(2, 24, "alias *a nests the document more than 32 levels deep")]),
    "integer_of_5000_digits": ((PROVIDER + "    timeout_s: " + "9" * 5000 + "\n").encode(),
                               [(5, 16, "a number of 5,000 characters is too long")]),
    "sexagesimal_of_3000_parts": (("ui:\n  refresh_s: " + ":".join(["59"] * 3000) + "\n").encode(),
                                  [(2, 14, "a number of 8,999 characters is too long")]),
    "file_over_one_mib": (b"# " + b"x" * (1024 * 1024) + b"\n", [(1, 1048577, "larger than 1 MiB")]),
    "more_than_100000_values": (("ui:\n  keys: [" + ",".join(["0"] * 150_000) + "]\n").encode(),
                                [(2, 200_000, "more than 100,000 values")]),
}

BROKEN: dict[str, tuple[bytes, list[tuple[int, int, str]]]] = {
    "nul_byte": (b"providers:\n  - name: bo\x00x\n", [(2, 13, "NUL byte")]),
    "escape_byte": (b"ui:\n  theme: \"a\x1b[2Jb\"\n", [(2, 12, "control character U+001B")]),
    "invalid_utf8": (b"providers:\n  - name: \xff\xfe\n", [(2, 11, "not UTF-8 text (byte 0xff)")]),
    "impossible_date": (b"ui:\n  theme: 2001-13-45\n", [(2, 10, "cannot read this value: month must be in 1..12")]),
    "bad_timestamp": (b"ui:\n  theme: !!timestamp x\n", [(2, 10, "cannot read this value as a timestamp")]),
    "python_object_tag": (b"ui: !!python/object/apply:os.system [echo hi]\n",
                          [(1, 5, "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed")]),
    "timeout_1e308": ((PROVIDER + "    timeout_s: 1e308\n").encode(),
                      [(5, 16, "timeout_s must be a number between 0.1 and 86400 seconds, not 1e+308")]),
    "timeout_inf": ((PROVIDER + "    timeout_s: .inf\n").encode(), [(5, 16, "not .inf")]),
    "timeout_nan": ((PROVIDER + "    timeout_s: .nan\n").encode(), [(5, 16, "not .nan")]),
    "timeout_zero": ((PROVIDER + "    timeout_s: 0\n").encode(), [(5, 16, "between 0.1 and 86400 seconds, not 0")]),
    "timeout_negative": ((PROVIDER + "    connect_timeout_s: -1\n").encode(), [(5, 24, "connect_timeout_s must")]),
    "timeout_true": ((PROVIDER + "    timeout_s: true\n").encode(), [(5, 16, "timeout_s must be a number, not true")]),
    "refresh_1e-9": (b"ui:\n  refresh_s: 1e-9\n", [(2, 14, "refresh_s must be a number between 0.2 and 3600")]),
    "limits_out_of_range": ((PROVIDER + "    rpm: 0\n    tpm: 99999999999\n    max_concurrency: 1000000\n").encode(),
                            [(5, 10, "rpm must be a whole number between 1 and 1000000, not 0"),
                             (6, 10, "tpm must be a whole number between 1 and 1000000000"),
                             (7, 22, "max_concurrency must be a whole number between 1 and 10000")]),
    "limits_as_huge_floats": ((PROVIDER + "    rpm: 1.0e+308\n    max_concurrency: .inf\n").encode(),
                              [(5, 10, "rpm must be a whole number, not 1e+308"),
                               (6, 22, "max_concurrency must be a finite number, not .inf")]),
    "route_numbers": ((PROVIDER + "routes:\n  - alias: chat\n    strategy: weighted\n"
                       "    targets: [{provider: box, model: m, weight: .inf}]\n    retries: 1000000\n"
                       "    timeouts: {ttft_s: 1e-9, total_s: 1e308}\n").encode(),
                      [(8, 49, "weight must be a number more than 0 and at most 1000000, not .inf"),
                       (9, 14, "retries must be a whole number between 0 and 10, not 1000000"),
                       (10, 24, "ttft_s must be a number between 0.1 and 86400 seconds, not 1e-09"),
                       (10, 39, "total_s must be a number between 0.1 and 86400 seconds, not 1e+308")]),
    "budgets_and_prices": ((PROVIDER + "budgets:\n  - {provider: box, usd_per_day: .inf, usd_per_month: -5}\n"
                            "prices:\n  - {model: m, input_usd_per_mtok: .nan, output_usd_per_mtok: 1e300}\n"
                            ).encode(),
                           [(6, 34, "usd_per_day must be a number between 0 and 1000000000 USD, not .inf"),
                            (6, 55, "usd_per_month must be a number between 0 and 1000000000 USD, not -5"),
                            (8, 36, "input_usd_per_mtok must be a number between 0 and 1000000 USD, not .nan"),
                            (8, 63, "output_usd_per_mtok must be a number between 0 and 1000000 USD")]),
    "port_zero": (b"providers:\n  - {name: box, kind: ollama, base_url: 'http://127.0.0.1:0'}\n",
                  [(2, 41, "invalid port — a port is a number from 1 to 65535")]),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bomb_is_refused_fast_in_little_memory(name: str, tmp_path: Path) -> None:
    content, expected = BOMBS[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    outcome = run_cli(tmp_path, "config", "validate", str(path))
    assert_problems(outcome, path, expected)
    assert outcome.max_rss_kb < BOMB_RSS_KB, f"peak RSS {outcome.max_rss_kb} KB"
    assert outcome.cpu_s < BOMB_CPU_S, f"{outcome.cpu_s:.1f} s of CPU"


def test_the_billion_laughs_file_is_as_small_as_reported() -> None:
    assert len(laughs(7)) <= 286


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_file_is_one_line_per_problem(name: str, tmp_path: Path) -> None:
    content, expected = BROKEN[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    assert_problems(run_cli(tmp_path, "config", "validate", str(path)), path, expected)


@pytest.mark.parametrize("args", [("models",), ("health", "--json"), ("chat", "box/m", "hi"), ()],
                         ids=["models", "health", "chat", "console"])
def test_every_command_that_loads_the_config_refuses_a_bomb(args: tuple[str, ...], tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(laughs(9), encoding="utf-8")
    outcome = run_cli(tmp_path, "--config", str(path), *args)
    assert outcome.code == 2, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert re.fullmatch(rf"llmdeck: {re.escape(str(path))}:5:8: aliases expand to more than 10,000 values .*\n",
                        outcome.stderr), outcome.stderr
    assert outcome.max_rss_kb < BOMB_RSS_KB


def test_absurd_numbers_are_refused_by_every_command(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(PROVIDER + "    timeout_s: .inf\nui:\n  refresh_s: 1e-9\n", encoding="utf-8")
    outcome = run_cli(tmp_path, "--config", str(path), "models")
    assert outcome.code == 2
    assert outcome.stderr.splitlines() == [
        f"llmdeck: {path}:5:16: timeout_s must be a number between 0.1 and 86400 seconds, not .inf",
        f"{path}:7:14: refresh_s must be a number between 0.2 and 3600 seconds, not 1e-09",
    ]


def test_reasonable_anchors_merges_and_edge_values_still_load() -> None:
    text = """
providers:
  - &box {name: box1, kind: vllm, base_url: 'http://10.0.0.1:8000', timeout_s: 86400, connect_timeout_s: 0.1,
          rpm: 1000000, tpm: 1000000000, max_concurrency: 10000, headers: &h {x-lab: one}}
  - {<<: *box, name: box2, base_url: 'http://10.0.0.2:65535', headers: *h}
routes:
  - {alias: chat, retries: 10, targets: [{provider: box1, model: m, weight: 0.001}, box2/m],
     timeouts: {ttft_s: 0.1, total_s: 86400}}
budgets:
  - {provider: box1, usd_per_day: 0, usd_per_month: 1000000000}
ui: {refresh_s: 0.2}
"""
    config, problems = check_text(text, "lab.yaml", environ={})
    assert problems == []
    assert config is not None
    box2 = config.provider("box2")
    assert box2 is not None
    assert (box2.kind, box2.timeout_s, box2.rpm, dict(box2.headers)) == ("vllm", 86400, 1000000, {"x-lab": "one"})
    assert config.routes[0].retries == 10
    assert config.ui.refresh_s == 0.2


def number_fields(schema: dict[str, object], where: str = "") -> list[tuple[str, dict[str, object]]]:
    """Every number or integer in a JSON schema, with where it is, through $defs, anyOf and properties."""
    found: list[tuple[str, dict[str, object]]] = []
    if schema.get("type") in ("number", "integer"):
        found.append((where, schema))
    for key in ("$defs", "properties"):
        children = schema.get(key)
        if isinstance(children, dict):
            for name, child in children.items():
                found += number_fields(child, f"{where}.{name}")
    options = schema.get("anyOf")
    if isinstance(options, list):
        for option in options:
            found += number_fields(option, where)
    return found


def test_every_number_of_the_config_has_a_lower_and_an_upper_bound() -> None:
    fields = number_fields(DeckConfig.model_json_schema())
    assert len(fields) >= 15
    unbounded = [where for where, schema in fields
                 if "maximum" not in schema or not ({"minimum", "exclusiveMinimum"} & set(schema))]
    assert unbounded == []
