"""YAML parsed with a bounded `yaml.SafeLoader`, keeping the line and column of every key and value by data path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from config.yaml_fixes import explain_syntax_error
from config.yaml_limits import BoundedSafeLoader, YamlRefusedError, find_unprintable

DataPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """1-based line and column in the file."""

    line: int
    col: int


START = Position(1, 1)


class YamlSyntaxError(ValueError):
    """The text is not YAML; carries where and why."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(message)
        self.position = position
        self.message = message


@dataclass
class Marks:
    """Where each value (and each mapping key) of the document starts."""

    values: dict[DataPath, Position] = field(default_factory=dict)
    keys: dict[DataPath, Position] = field(default_factory=dict)

    def locate(self, path: DataPath, *, at_key: bool = False) -> Position:
        """The position of `path`, or of its closest ancestor present in the file (for missing fields)."""
        if at_key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), 0, -1):
            position = self.values.get(path[:end])
            if position is not None:
                return position
        return self.values.get((), START)


@dataclass
class ParsedYaml:
    """The plain data of a document, its marks, and duplicate keys (which YAML itself would silently drop)."""

    data: Any
    marks: Marks
    duplicate_keys: list[tuple[Position, str]]


def _position(mark: yaml.Mark | None) -> Position:
    return Position(mark.line + 1, mark.column + 1) if mark is not None else START


def _key_of(loader: yaml.SafeLoader, node: yaml.Node) -> str | int | None:
    if not isinstance(node, yaml.ScalarNode):
        return None
    key = loader.construct_object(node)
    return key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)


def _walk(loader: yaml.SafeLoader, node: yaml.Node, path: DataPath, parsed: ParsedYaml, depth: int = 0) -> None:
    parsed.marks.values[path] = _position(node.start_mark)
    if depth > 64:  # recursive anchors: the data itself is unusable past this point anyway
        return
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(loader, item, (*path, index), parsed, depth + 1)
    elif isinstance(node, yaml.MappingNode):
        first_seen: dict[str | int, Position] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` brings in keys written elsewhere; an explicit key may override them
            key = _key_of(loader, key_node)
            if key is None:
                continue
            child = (*path, key)
            key_position = _position(key_node.start_mark)
            if key in first_seen:
                parsed.duplicate_keys.append(
                    (key_position, f"duplicate key '{key}' — YAML keeps only the last one; remove one "
                                   f"(first on line {first_seen[key].line})"))
            else:
                first_seen[key] = key_position
            parsed.marks.keys[child] = key_position
            _walk(loader, value_node, child, parsed, depth + 1)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document safely and within the limits of config/yaml_limits.py.

    YamlSyntaxError names the line and column of the first error, including a limit crossed, and the likely fix.
    """
    unprintable = find_unprintable(text)
    if unprintable is not None:
        line, col, message = unprintable
        raise YamlSyntaxError(Position(line, col), message)
    loader = BoundedSafeLoader(text)
    try:
        node = loader.get_single_node()
        parsed = ParsedYaml(data=None, marks=Marks(), duplicate_keys=[])
        if node is not None:
            # Before construction: it rewrites mappings with `<<` merges, which would look like duplicate keys.
            _walk(loader, node, (), parsed)
            parsed.data = loader.construct_document(node)
        return parsed
    except YamlRefusedError as exc:
        raise YamlSyntaxError(_position(exc.problem_mark), exc.problem) from None
    except yaml.MarkedYAMLError as exc:
        line, col, message = explain_syntax_error(text, exc)
        raise YamlSyntaxError(Position(line, col), message) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(START, f"YAML syntax error: {exc}") from None
    finally:
        loader.dispose()
