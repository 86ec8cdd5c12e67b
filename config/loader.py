"""Config file → DeckConfig, with every problem reported as FILE:LINE:COL and what to do about it."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from config.checks import cross_check
from config.error_text import describe
from config.kinds import KINDS
from config.schema import DeckConfig, ProviderConfig
from config.secret_ref import KEEP_IT_SECRET, looks_like_key
from config.yaml_limits import MAX_FILE_BYTES, line_and_col
from config.yaml_marks import START, DataPath, Position, YamlSyntaxError, parse_yaml


@dataclass(frozen=True, slots=True, order=True)
class ConfigProblem:
    """One thing wrong with a config file. line and col are 1-based; 0 means the file as a whole."""

    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.col}: {self.message}"


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every reason, in file order."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def _read(path: Path) -> str:
    """The file's text; OSError/UnicodeError and a file over MAX_FILE_BYTES become a ConfigError naming the file."""
    file = str(path)
    try:
        with path.open("rb") as stream:
            # Read one byte past the limit, never the whole of a huge file (or of /dev/zero).
            data = stream.read(MAX_FILE_BYTES + 1)
        return _decode(file, data)
    except FileNotFoundError:
        reason = "no such file — create it (start from llmdeck.example.yaml) or pass another path"
    except IsADirectoryError:
        reason = "is a directory, not a config file"
    except PermissionError:
        reason = "cannot read the file: permission denied"
    except OSError as exc:
        reason = f"cannot read the file: {exc.strerror or exc}"
    raise ConfigError([ConfigProblem(file, 0, 0, reason)])


def _decode(file: str, data: bytes) -> str:
    """UTF-8 text of at most MAX_FILE_BYTES; a problem says where, as FILE:LINE:COL."""
    if len(data) > MAX_FILE_BYTES:
        line, col = _byte_position(data, MAX_FILE_BYTES)
        raise ConfigError([ConfigProblem(file, line, col, f"the file is larger than {MAX_FILE_BYTES / 2**20:g} MiB, "
                                                           "the limit for a config (a real one is a few KiB) — "
                                                           "is this the right file?")])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(data, exc.start)
        raise ConfigError([ConfigProblem(file, line, col, f"not UTF-8 text (byte 0x{data[exc.start]:02x}) — save "
                                                          "the file as UTF-8")]) from None


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset; bytes that do not decode count as one each."""
    before = data[:offset].decode("utf-8-sig", errors="replace")
    return line_and_col(before, len(before))


def _strings(data: Any, path: DataPath = ()) -> Iterator[tuple[DataPath, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, (*path, index))


def _leaked_secrets(data: Any) -> list[DataPath]:
    """Paths of values shaped like a real API key. api_key itself is checked by the schema with a better message."""
    return [path for path, text in _strings(data) if path[-1:] != ("api_key",) and looks_like_key(text)]


def _within(path: DataPath, prefixes: list[DataPath]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in prefixes)


def check_text(
    text: str, file: str = "<config>", environ: Mapping[str, str] | None = None
) -> tuple[DeckConfig | None, list[ConfigProblem]]:
    """Parse and validate config text. Returns the config (None when anything is wrong) and every problem found.

    Every stage runs whatever the others found (only a YAML syntax error stops the rest, as there is no data), so
    one run lists a kind typo, a literal key, an unknown provider and a fallback cycle together."""
    try:
        parsed = parse_yaml(text)
    except YamlSyntaxError as exc:
        return None, [ConfigProblem(file, exc.position.line, exc.position.col, exc.message)]
    marks = parsed.marks

    def at(position: Position, message: str) -> ConfigProblem:
        return ConfigProblem(file, position.line, position.col, message)

    problems = [at(position, message) for position, message in parsed.duplicate_keys]
    data = {} if parsed.data is None else parsed.data
    if not isinstance(data, dict):
        problems.append(at(START, "the config must be a mapping with sections such as providers: and routes:"))
        return None, sorted(problems)
    secrets = _leaked_secrets(data)
    problems += [at(marks.locate(path), f"this looks like a literal API key — {KEEP_IT_SECRET}") for path in secrets]
    context = {"environ": os.environ if environ is None else environ, "cross_checks": False}
    config: DeckConfig | None = None
    invalid: list[DataPath] = []
    try:
        config = DeckConfig.model_validate(data, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path, at_key, message = describe(error, DeckConfig)
            invalid.append(path)
            if not _within(path, secrets):
                problems.append(at(marks.locate(path, at_key=at_key), message))
    for problem in cross_check(data):
        # A value the schema refused (or a secret) is reported once, by the schema: the cross check would only
        # repeat it in other words.
        if _within(problem.path, secrets) or any(_within(path, [problem.path]) for path in invalid):
            continue
        first_line = marks.locate(problem.first).line if problem.first else None
        problems.append(at(marks.locate(problem.path), problem.text(first_line)))
    if problems:
        return None, sorted(set(problems))
    return config, []


def validate_file(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> list[ConfigProblem]:
    """Every problem of a config file (empty when it is fine), each naming FILE:LINE:COL. Never raises."""
    try:
        text = _read(Path(path))
    except ConfigError as exc:
        return exc.problems
    return check_text(text, str(path), environ)[1]


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> DeckConfig:
    """The validated config of a file; ConfigError lists every problem (a missing file is one, with line 0).

    `$VAR` expands from `environ` (default: the process environment). Secrets are not resolved here.
    """
    config, problems = check_text(_read(Path(path)), str(path), environ)
    if config is None:
        raise ConfigError(problems)
    return config


def discovery_candidates() -> list[tuple[str, str]]:
    """(kind, base_url) pairs probed for auto-discovery, in the order of config/defaults.yaml."""
    text = resources.files("config").joinpath("defaults.yaml").read_text(encoding="utf-8")
    entries: list[dict[str, str]] = yaml.safe_load(text)
    return [(str(entry["kind"]), str(entry["base_url"])) for entry in entries]


def load_discovery_config() -> DeckConfig:
    """Providers at the usual local ports, for when there is no config file at all."""
    return DeckConfig(providers=tuple(discovered_provider(kind, url) for kind, url in discovery_candidates()))


def discovered_provider(kind: str, base_url: str) -> ProviderConfig:
    """A provider for a server found by probing, named `KIND-PORT` (e.g. `ollama-11434`)."""
    port = urlsplit(base_url).port or (KINDS[kind].ports or (0,))[0]
    return ProviderConfig(name=f"{kind}-{port}", kind=kind, base_url=base_url)


__all__ = [
    "ConfigError",
    "ConfigProblem",
    "check_text",
    "discovered_provider",
    "discovery_candidates",
    "load_config",
    "load_discovery_config",
    "validate_file",
]
