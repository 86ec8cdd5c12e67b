"""What to do about a YAML syntax error: PyYAML's complaint read together with the lines around it.

PyYAML says what its parser expected ("expected <block end>, but found '<block mapping start>'"), often a line
after the real mistake. The usual mistakes in a hand-written config are few: a key indented to the wrong column,
a tab, a quote or bracket left open, a missing ':' or a missing space after it, a value holding ': '. Each is
recognised from the error and the text, and told as where to fix it and how.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from config.secret_ref import looks_like_key

Fix = tuple[int, int, str]
"""1-based line and column of the place to change, and the message."""

_PREFIX = "YAML syntax error: "
_HINTS = {
    "mapping values are not allowed here": "check the indentation, or quote a value that contains ': '",
    "could not find expected ':'": "a key needs ': ' after it; check the indentation",
    "found unexpected end of stream": "a quote or bracket is not closed",
}
# Each pattern matches in linear time, however long the line (a hostile file may hold a line of a million spaces).
_KEY_COLON = re.compile(r":(?:[ \t]|$)")
_COMMENT_START = re.compile(r"[ \t]#")
_GLUED_VALUE = re.compile(r"(?P<key>[A-Za-z_][\w.-]*):(?P<value>[^\s:/][^#]*)")
_NOT_A_KEY_START = "#'\"{}[],:"
_CLOSERS = {"[": "]", "{": "}"}
_MAX_SHOWN = 40
# The value of a key named like this is never quoted back, whatever its shape (as config/schema.py's headers).
_SECRET_NAME = re.compile(r"auth|key|token|secret|password|cookie", re.IGNORECASE)


@dataclass(frozen=True)
class _Line:
    """One line of the file as the block structure sees it."""

    number: int
    indent_col: int
    """1-based column of the first character that is not a space."""
    dash_cols: list[int] = field(default_factory=list)
    """Columns of the `- ` list markers that open the line."""
    content_col: int = 0
    """Column of what follows the markers: a key, or a list item's value."""
    key: str | None = None
    value: str = ""
    value_col: int = 0

    @property
    def meaningful(self) -> bool:
        return self.content_col > 0


def _shape(number: int, line: str) -> _Line:
    stripped = line.lstrip(" ")
    indent = len(line) - len(stripped)
    if not stripped.strip() or stripped.startswith("#") or stripped.rstrip() in ("---", "..."):
        return _Line(number, indent + 1)
    col, rest, dashes = indent, stripped, []
    while rest.startswith("-") and (len(rest) == 1 or rest[1] in " \t"):
        dashes.append(col + 1)
        after = rest[1:].lstrip(" \t")
        col += len(rest) - len(after)
        rest = after
    colon = _KEY_COLON.search(rest) if rest[:1] not in _NOT_A_KEY_START else None
    key = rest[: colon.start()] if colon is not None else ""
    if colon is None or "#" in key:
        return _Line(number, indent + 1, dashes, col + 1, value=_without_comment(rest), value_col=col + 1)
    value = rest[colon.end():]
    value_offset = colon.end() + len(value) - len(value.lstrip(" \t"))
    return _Line(number, indent + 1, dashes, col + 1, key.rstrip(), _without_comment(value.lstrip(" \t")),
                 col + 1 + value_offset)


def _without_comment(text: str) -> str:
    found = _COMMENT_START.search(text)
    return (text[: found.start()] if found is not None else text).rstrip()


def _previous(lines: list[str], number: int) -> _Line | None:
    """The nearest line above `number` (1-based) with something on it other than a comment."""
    for earlier in range(number - 1, 0, -1):
        shape = _shape(earlier, lines[earlier - 1])
        if shape.meaningful:
            return shape
    return None


def _shown(text: str, key: str | None = None) -> str | None:
    """Text fit to quote back in a message: short, never shaped like a key someone pasted, nor the value of a key
    named like a secret."""
    text = text.strip()
    if not text or looks_like_key(text) or (key is not None and _SECRET_NAME.search(key)):
        return None
    return text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}…"


def _quoted(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _closing_quote(text: str, start: int) -> int | None:
    """Offset of the quote that closes the one at `start`, or None when it is never closed."""
    quote = text[start]
    index = start + 1
    while index < len(text):
        char = text[index]
        if quote == '"' and char == "\\":
            index += 2
            continue
        if char == quote:
            if quote == "'" and text.startswith("''", index):
                index += 2  # '' is a quote inside a single-quoted value
                continue
            return index
        index += 1
    return None


def _unclosed_quote_fix(exc: yaml.MarkedYAMLError, lines: list[str]) -> Fix | None:
    """A quoted value left open. PyYAML reports one open to the end of the file where it opened; one that a later
    quote closes runs on over the `key:` or `- ` lines between, and YAML fails somewhere below: look for that value
    at or above the error (a quoted value may span lines, but one holding a `key:` or `- ` line is a mistake)."""
    if exc.problem == "found unexpected end of stream" and exc.context == "while scanning a quoted scalar":
        opened = exc.context_mark
        if opened is not None and opened.line < len(lines):
            key = _shape(opened.line + 1, lines[opened.line]).key
            return _quote_fix(opened.line + 1, opened.column + 1, lines[opened.line][opened.column:].rstrip(), key)
    mark = exc.problem_mark or exc.context_mark
    upto = mark.line + 1 if mark is not None else len(lines)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    text = "\n".join(lines)
    for number in range(1, min(upto, len(lines)) + 1):
        shape = _shape(number, lines[number - 1])
        if not shape.meaningful or shape.value[:1] not in ("'", '"'):
            continue
        start = offsets[number - 1] + shape.value_col - 1
        end = _closing_quote(text, start)
        swallowed = text[start:end].split("\n")[1:] if end is not None else text[start:].split("\n")[1:]
        if end is not None and not swallowed:
            continue
        if end is None or any(_starts_an_entry(_shape(0, line)) for line in swallowed):
            return _quote_fix(number, shape.value_col, shape.value, shape.key)
    return None


def _starts_an_entry(line: _Line) -> bool:
    return line.key is not None or bool(line.dash_cols)


def _quote_fix(line: int, col: int, value: str, key: str | None = None) -> Fix:
    quote, rest = value[0], value[1:]
    shown = _shown(rest, key)
    example = f", e.g. {quote}{shown}{quote}" if shown else ""
    return line, col, f"{_PREFIX}the {quote} opened here is never closed — end the value with {quote}{example}"


def _not_closed(opener: str) -> str:
    return f"{_PREFIX}the '{opener}' opened here is not closed — add '{_CLOSERS[opener]}' where its entries end"


def _flow_fix(exc: yaml.MarkedYAMLError, lines: list[str]) -> Fix | None:
    """`[a, b` or `{a: 1` left open, or a ',' missing between two entries of a `{…}` or `[…]`."""
    problem, opened, found = exc.problem or "", exc.context_mark, exc.problem_mark
    if not problem.startswith("expected ',' or ") or opened is None or found is None:
        return None
    opener = lines[opened.line][opened.column] if opened.line < len(lines) else "["
    closer = _CLOSERS.get(opener, "]")
    if found.line == opened.line and not problem.endswith("'<stream end>'"):
        before = lines[found.line][: found.column].rstrip()
        start = len(before)
        while start > 0 and not (before[start - 1].isspace() or before[start - 1] in ",{}[]"):
            start -= 1
        word = _shown(before[start:])
        if word is not None:
            return (found.line + 1, start + 1,
                    f"{_PREFIX}a ',' is missing before '{word}' in this {opener}…{closer} — write "
                    f"', {word}' (or quote a value that contains ': ')")
    return opened.line + 1, opened.column + 1, _not_closed(opener)


def _open_bracket(lines: list[str]) -> tuple[int, int, str] | None:
    """(line, col, bracket) of the innermost `[` or `{` still open at the end of the file, outside quotes and
    comments."""
    stack: list[tuple[int, int, str]] = []
    for number, line in enumerate(lines, 1):
        quote = ""
        for index, char in enumerate(line):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"" and (index == 0 or line[index - 1] in " \t[{,:"):
                quote = char
            elif char == "#" and (index == 0 or line[index - 1] in " \t"):
                break
            elif char in _CLOSERS:
                stack.append((number, index + 1, char))
            elif char in "]}" and stack:
                stack.pop()
    return stack[-1] if stack else None


def _stream_end_fix(exc: yaml.MarkedYAMLError, lines: list[str]) -> Fix | None:
    """The file ends where a value should follow: a bracket left open with nothing after it."""
    if exc.problem != "expected the node content, but found '<stream end>'":
        return None
    opened = _open_bracket(lines)
    if opened is None:
        return None
    line, col, opener = opened
    return line, col, _not_closed(opener)


def _missing_colon_fix(exc: yaml.MarkedYAMLError, lines: list[str]) -> Fix | None:
    """`kind ollama`: a key without its ':'."""
    mark = exc.context_mark
    if exc.problem != "could not find expected ':'" or mark is None or mark.line >= len(lines):
        return None
    written = _without_comment(lines[mark.line][mark.column:]).strip()
    key, _, value = written.partition(" ")
    shown = _shown(value, key)
    fix = f"write '{key}: {shown}'" if shown else f"write ': ' after '{key}'"
    return mark.line + 1, mark.column + 1, f"{_PREFIX}'{key}' has no ':' after it — {fix}"


def _mapping_value_fix(exc: yaml.MarkedYAMLError, lines: list[str]) -> Fix | None:
    """PyYAML found a `: ` where no key may start: a value holding ': ', or the line above is not what it
    looks like (no ':' after its key, no space after its ':', or a value before an indented block)."""
    mark = exc.problem_mark
    if exc.problem != "mapping values are not allowed here" or mark is None or mark.line >= len(lines):
        return None
    here = _shape(mark.line + 1, lines[mark.line])
    if here.key is not None and mark.column + 1 > here.content_col + len(here.key):
        shown = _shown(here.value, here.key)
        fix = f"quote it: {here.key}: {_quoted(shown)}" if shown and shown == here.value else "quote it"
        return here.number, here.value_col, f"{_PREFIX}the value of '{here.key}' contains ': ' — {fix}"
    above = _previous(lines, here.number)
    if above is None:
        return None
    if above.key is None and ":" not in above.value and here.indent_col > above.content_col:
        shown = _shown(above.value)
        fix = f"write '{shown}:'" if shown else "add ':' after it"
        return (above.number, above.content_col + len(above.value),
                f"{_PREFIX}'{shown or 'the key'}' on line {above.number} has no ':' after it — {fix}")
    glued = _GLUED_VALUE.fullmatch(above.value) if above.key is None else None
    if glued is not None:
        shown = _shown(glued["value"], glued["key"])
        fix = f"write '{glued['key']}: {shown}'" if shown else f"write ': ' after '{glued['key']}'"
        return (above.number, above.content_col + len(glued["key"]) + 1,
                f"{_PREFIX}'{glued['key']}:' on line {above.number} needs a space after the ':' — {fix}")
    if above.key is not None and above.value and here.indent_col > above.content_col:
        return (here.number, here.indent_col,
                f"{_PREFIX}line {here.number} is indented under '{above.key}', which already has a value on line "
                f"{above.number} — line it up with '{above.key}' (column {above.content_col}), or move that value "
                "onto the lines below")
    return None


def _columns_above(lines: list[str], number: int, *, dash: bool) -> dict[int, str]:
    """Column → what starts there (`'name' on line 2`), for the lines that enclose line `number`: the nearest line
    above, the nearest less indented than that, and so on to the left edge. Keys start at a key's column; a list
    item also at a `- ` marker's."""
    columns: dict[int, str] = {}
    limit: int | None = None  # the nearest line above counts however deep it is
    for earlier in range(number - 1, 0, -1):
        shape = _shape(earlier, lines[earlier - 1])
        if not shape.meaningful or (limit is not None and shape.indent_col >= limit):
            continue
        limit = shape.indent_col
        if shape.key is not None:
            columns.setdefault(shape.content_col, f"'{shape.key}' on line {earlier}")
        if dash:
            for col in shape.dash_cols:
                columns.setdefault(col, f"the '- ' on line {earlier}")
        if limit <= 1:
            break
    return columns


def _block_end_fix(exc: yaml.MarkedYAMLError, lines: list[str]) -> Fix | None:
    """A line that ends the block it should belong to: mis-indented, or text after a closing quote."""
    problem, mark = exc.problem or "", exc.problem_mark
    if not problem.startswith("expected <block end>, but found ") or mark is None or mark.line >= len(lines):
        return None
    found = problem.removeprefix("expected <block end>, but found ").strip("'")
    line, col = mark.line + 1, mark.column + 1
    if found in ("]", "}"):
        return line, col, f"{_PREFIX}a '{found}' that closes nothing — remove it"
    if found == ":":
        return line, col, f"{_PREFIX}a ':' with no key before it — write the key, or quote the value"
    if found == "<scalar>" and lines[mark.line][: mark.column].rstrip()[-1:] in ("'", '"'):
        return line, col, f"{_PREFIX}text after the closing quote — put the whole value inside the quotes"
    dash = found == "<block sequence start>" or lines[mark.line][mark.column:].startswith("- ")
    columns = _columns_above(lines, line, dash=dash)
    # Nearest first; on a tie a list item most likely lines up with a `- ` and a key with the deeper key.
    nearest = sorted((c for c in columns if c != col),
                     key=lambda c: (abs(c - col), dash and not columns[c].startswith("the '- '"), -c))[:2]
    if not nearest:
        return None
    choices = " or ".join(f"to column {c} (like {columns[c]})" for c in nearest)
    what = "list item" if dash else "key"
    new_entry = "; or start it with '- ' for a new list entry" if not dash and col in _columns_above(
        lines, line, dash=True) else ""
    return line, col, (f"{_PREFIX}this {what} is indented to column {col}, which matches no {what} above it — "
                       f"indent it {choices}{new_entry}")


def _token_fix(exc: yaml.MarkedYAMLError) -> str | None:
    """A message for the errors that need no look at the text around them."""
    problem = exc.problem or ""
    if problem.startswith("could not determine a constructor for the tag "):
        tag = problem.removeprefix("could not determine a constructor for the tag ")
        shown = tag if len(tag) <= 80 else f"{tag[:80]}…"
        return f"YAML tag {shown} is not allowed in a config — remove the tag"
    if "'\\t'" in problem:
        return "tab character — YAML indents with spaces only; replace the tab with spaces"
    started = re.fullmatch(r"found character '(.)' that cannot start any token", problem)
    if started is not None:
        return f"{_PREFIX}a value cannot start with '{started[1]}' — quote the value"
    alias = re.fullmatch(r"found undefined alias '(.*)'", problem)
    if alias is not None:
        return (f"{_PREFIX}*{alias[1]} refers to no anchor — write &{alias[1]} on a value above it, or quote the "
                "text if '*' is meant literally")
    if problem == "but found another document":
        return f"{_PREFIX}a config is one YAML document — remove this '---' line"
    return None


# In order: an open quote first, since everything YAML says after one is about text it misread.
_FIXERS: tuple[Callable[[yaml.MarkedYAMLError, list[str]], Fix | None], ...] = (
    _unclosed_quote_fix, _flow_fix, _stream_end_fix, _missing_colon_fix, _mapping_value_fix, _block_end_fix,
)


def explain_syntax_error(text: str, exc: yaml.MarkedYAMLError) -> Fix:
    """Where to fix a YAML syntax error and how, in words an operator can act on."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = _token_fix(exc)
    if message is not None:
        return line, col, message
    lines = text.splitlines()
    for fixer in _FIXERS:
        found = fixer(exc, lines)
        if found is not None:
            return found
    problem = exc.problem or exc.context or "not valid YAML"
    if problem == "found unexpected end of stream" and exc.context_mark is not None:
        # An unclosed bracket is reported at the end of the file; point at where it was opened instead.
        line, col = exc.context_mark.line + 1, exc.context_mark.column + 1
    hint = _HINTS.get(problem) or exc.context or "check the indentation and quoting near here"
    return line, col, f"{_PREFIX}{problem} — {hint}"


__all__ = ["explain_syntax_error"]
