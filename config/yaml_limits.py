"""A YAML SafeLoader with limits: a small hostile file cannot take the memory, the CPU or the stack.

YAML aliases let a 300-byte file describe billions of values ("billion laughs"); nesting thousands deep
overflows Python's stack in PyYAML's recursive composer; a long integer hits Python's int-str limit or costs
quadratic time. Every limit here is far above what a real config needs and is checked while the document is
composed, before anything is expanded, so refusing costs little.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024
"""A config is a few kilobytes; a file above this is the wrong file or an attack."""
MAX_DEPTH = 32
"""Levels of nesting, counting what aliases bring in; a config needs about six."""
MAX_VALUES = 100_000
"""Values (scalars, lists, mappings) in the whole document, each alias counted as everything it stands for."""
MAX_ALIAS_VALUES = 10_000
"""Values that aliases may add in total; a config reusing a few header blocks needs dozens."""
MAX_NUMBER_CHARS = 64
"""Characters in one number; longer ones are no setting's value and cost time to convert (int-str limit)."""

# What YAML 1.1 (and PyYAML's reader) accepts as text: tab, line breaks and printable characters.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class YamlRefusedError(yaml.MarkedYAMLError):  # type: ignore[misc]  # PyYAML ships no types
    """The document is over a limit, or holds a value that cannot be read; `problem` is the whole message and
    `problem_mark` where it happened."""

    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=message, problem_mark=mark)


def line_and_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of `text[index]`, counting line breaks as YAML does."""
    # A sentinel keeps a break right before `index` from being dropped by splitlines().
    lines = (text[:index] + "x").splitlines()
    return len(lines), len(lines[-1])


def find_unprintable(text: str) -> tuple[int, int, str] | None:
    """(line, col, message) of the first character YAML does not allow in a document, or None."""
    found = _NOT_PRINTABLE.search(text)
    if found is None:
        return None
    line, col = line_and_col(text, found.start())
    code = ord(found.group())
    if code == 0:
        message = "NUL byte — a config file is plain text; remove it (was this file written by a binary tool?)"
    else:
        message = f"control character U+{code:04X} is not allowed in a config file — remove it"
    return line, col, message


class BoundedSafeLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """`yaml.SafeLoader` that refuses deep nesting, alias bombs, recursive anchors and over-long numbers."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._values = 0
        self._alias_values = 0
        self._open_anchors: set[str] = set()
        self._shapes: dict[int, tuple[yaml.Node, int, int]] = {}

    def _shape(self, node: yaml.Node) -> tuple[int, int]:
        """(values, depth) of a composed node with every alias expanded; memoised, so linear in distinct nodes."""
        known = self._shapes.get(id(node))
        if known is not None:
            return known[1], known[2]
        values, depth = 1, 1
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        for child in children:
            child_values, child_depth = self._shape(child)
            values += child_values
            depth = max(depth, child_depth + 1)
        # The node is kept with its numbers so its id cannot be reused by another object meanwhile.
        self._shapes[id(node)] = (node, values, depth)
        return values, depth

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._check_alias(event)
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise YamlRefusedError(f"nested more than {MAX_DEPTH} levels deep — a config needs only a few; "
                                   "check the brackets and the indentation", event.start_mark)
        self._values += 1
        if self._values > MAX_VALUES:
            raise YamlRefusedError(f"more than {MAX_VALUES:,} values in one file — a config is much smaller; "
                                   "is this the right file?", event.start_mark)
        anchor = event.anchor
        if anchor is not None:
            self._open_anchors.add(anchor)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.discard(anchor)

    def _check_alias(self, event: yaml.AliasEvent) -> None:
        anchor = event.anchor
        if anchor in self._open_anchors:
            raise YamlRefusedError(f"alias *{anchor} is inside its own anchor &{anchor} — a value cannot contain "
                                   "itself; write the inner part out", event.start_mark)
        target = self.anchors.get(anchor)
        if target is None:
            return  # PyYAML reports the undefined alias itself
        values, depth = self._shape(target)
        if self._depth + depth > MAX_DEPTH:
            raise YamlRefusedError(f"alias *{anchor} nests the document more than {MAX_DEPTH} levels deep — "
                                   "write the value out instead", event.start_mark)
        self._alias_values += values
        self._values += values
        if self._alias_values > MAX_ALIAS_VALUES:
            raise YamlRefusedError(f"aliases expand to more than {MAX_ALIAS_VALUES:,} values (this one, *{anchor}, "
                                   f"stands for {values:,}) — llmdeck refuses alias bombs; write the repeated part "
                                   "out or use fewer aliases", event.start_mark)
        if self._values > MAX_VALUES:
            raise YamlRefusedError(f"more than {MAX_VALUES:,} values in one file, counting what aliases stand for "
                                   f"(*{anchor} stands for {values:,}) — a config is much smaller", event.start_mark)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            # e.g. `2001-13-45` resolves as a date and datetime refuses it; make it a marked error, not a crash.
            raise YamlRefusedError(f"cannot read this value: {exc} — quote it if it is text",
                                   node.start_mark) from None
        except (TypeError, AttributeError, IndexError, KeyError):
            # PyYAML's constructors assume well-formed values: `!!timestamp x` fails inside them.
            tag = str(node.tag).rsplit(":", 1)[-1]
            raise YamlRefusedError(f"cannot read this value as a {tag} — remove the !!{tag} tag or fix the value",
                                   node.start_mark) from None

    def _number_text(self, node: yaml.Node) -> str:
        text = str(self.construct_scalar(node))
        if len(text) > MAX_NUMBER_CHARS:
            raise YamlRefusedError(f"a number of {len(text):,} characters is too long for any setting — "
                                   "write a smaller number, or quote it if it is text", node.start_mark)
        return text

    def construct_yaml_int(self, node: yaml.Node) -> int:
        self._number_text(node)
        return int(super().construct_yaml_int(node))

    def construct_yaml_float(self, node: yaml.Node) -> float:
        self._number_text(node)
        return float(super().construct_yaml_float(node))


# The constructor table is copied per class on first `add_constructor`; these make the overrides the ones used.
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:int", BoundedSafeLoader.construct_yaml_int)
BoundedSafeLoader.add_constructor("tag:yaml.org,2002:float", BoundedSafeLoader.construct_yaml_float)


__all__ = [
    "MAX_ALIAS_VALUES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NUMBER_CHARS",
    "MAX_VALUES",
    "BoundedSafeLoader",
    "YamlRefusedError",
    "find_unprintable",
    "line_and_col",
]
