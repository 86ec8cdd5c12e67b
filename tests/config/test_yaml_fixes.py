"""A YAML syntax error is reported where the fix goes, with the likely fix, for each usual mistake."""

from __future__ import annotations

import time

import pytest

from config.loader import check_text

OLLAMA = "providers:\n  - name: local-ollama\n"

# name -> (file text, line, col, the message after "YAML syntax error: ")
CASES: dict[str, tuple[str, int, int, str]] = {
    "key_less_indented_than_its_siblings": (
        OLLAMA + "    kind: ollama\n   base_url: http://127.0.0.1:11434\n", 4, 4,
        "this key is indented to column 4, which matches no key above it — indent it to column 5 (like 'kind' on "
        "line 3) or to column 1 (like 'providers' on line 1)"),
    "key_more_indented_than_the_key_with_a_value_above": (
        OLLAMA + "     kind: ollama\n", 3, 6,
        "line 3 is indented under 'name', which already has a value on line 2 — line it up with 'name' (column 5), "
        "or move that value onto the lines below"),
    "key_at_the_column_of_the_list_marker": (
        OLLAMA + "  kind: ollama\n", 3, 3,
        "this key is indented to column 3, which matches no key above it — indent it to column 5 (like 'name' on "
        "line 2) or to column 1 (like 'providers' on line 1); or start it with '- ' for a new list entry"),
    "key_between_a_nested_block_and_its_parent": (
        OLLAMA + "    headers:\n      x-lab: one\n     x-team: two\n", 5, 6,
        "this key is indented to column 6, which matches no key above it — indent it to column 7 (like 'x-lab' on "
        "line 4) or to column 5 (like 'headers' on line 3)"),
    "list_item_out_of_line": (
        OLLAMA + "   - name: other\n", 3, 4,
        "this list item is indented to column 4, which matches no list item above it — indent it to column 3 (like "
        "the '- ' on line 2) or to column 5 (like 'name' on line 2)"),
    "section_key_indented_by_one": (
        OLLAMA + "    kind: ollama\n routes: []\n", 4, 2,
        "this key is indented to column 2, which matches no key above it — indent it to column 1 (like 'providers' "
        "on line 1) or to column 5 (like 'kind' on line 3)"),
    "quote_never_closed": (
        OLLAMA + "    kind: ollama\n    base_url: 'http://127.0.0.1:11434\n", 4, 15,
        "the ' opened here is never closed — end the value with ', e.g. 'http://127.0.0.1:11434'"),
    "quote_closed_only_by_the_next_value": (
        'providers:\n  - name: "local-ollama\n    kind: "ollama"\n    base_url: http://127.0.0.1:11434\n', 2, 11,
        'the " opened here is never closed — end the value with ", e.g. "local-ollama"'),
    "text_after_the_closing_quote": (
        'providers:\n  - name: "local" ollama\n', 2, 19,
        "text after the closing quote — put the whole value inside the quotes"),
    "key_without_colon": (
        OLLAMA + "    kind ollama\n    base_url: http://127.0.0.1:11434\n", 3, 5,
        "'kind' has no ':' after it — write 'kind: ollama'"),
    "key_without_colon_at_the_end": (
        OLLAMA + "    kind ollama\n", 3, 5, "'kind' has no ':' after it — write 'kind: ollama'"),
    "section_without_colon": (
        "providers\n  - name: local-ollama\n", 1, 10, "'providers' on line 1 has no ':' after it — write 'providers:'"),
    "colon_without_space": (
        "providers:\n  - name:local-ollama\n    kind: ollama\n", 2, 10,
        "'name:' on line 2 needs a space after the ':' — write 'name: local-ollama'"),
    "value_holding_colon_space": (
        OLLAMA + "    kind: ollama\n    host: lab: box2\n", 4, 11,
        "the value of 'host' contains ': ' — quote it: host: 'lab: box2'"),
    "value_before_an_indented_block": (
        "providers: none\n  - name: local-ollama\n", 2, 3,
        "line 2 is indented under 'providers', which already has a value on line 1 — line it up with 'providers' "
        "(column 1), or move that value onto the lines below"),
    "bracket_never_closed": (
        "routes:\n  - alias: chat\n    targets: [a/m, b/m\n  - alias: other\n", 3, 14,
        "the '[' opened here is not closed — add ']' where its entries end"),
    "brace_never_closed": (
        "providers:\n  - {name: local-ollama, kind: ollama\n", 2, 5,
        "the '{' opened here is not closed — add '}' where its entries end"),
    "comma_missing_in_a_flow_mapping": (
        "providers:\n  - {name: local-ollama kind: ollama}\n", 2, 25,
        "a ',' is missing before 'kind' in this {…} — write ', kind' (or quote a value that contains ': ')"),
    "bracket_closing_nothing": ("routes: [a, b]]\n", 1, 15, "a ']' that closes nothing — remove it"),
    "alias_without_anchor": (
        "providers:\n  - *box\n", 2, 5,
        "*box refers to no anchor — write &box on a value above it, or quote the text if '*' is meant literally"),
    "value_starting_with_a_reserved_character": (
        "ui:\n  theme: @dark\n", 2, 10, "a value cannot start with '@' — quote the value"),
    "second_document": (
        "providers: []\n---\nroutes: []\n", 2, 1, "a config is one YAML document — remove this '---' line"),
}


@pytest.mark.parametrize("name", CASES)
def test_syntax_error_names_the_place_and_the_fix(name: str) -> None:
    text, line, col, message = CASES[name]
    config, [problem] = check_text(text, "lab.yaml")
    assert config is None
    assert (problem.line, problem.col, problem.message) == (line, col, f"YAML syntax error: {message}")


def test_tab_names_the_fix() -> None:
    _, [problem] = check_text("providers:\n  - name: local-ollama\n  \tkind: ollama\n", "lab.yaml")
    assert (problem.line, problem.col) == (3, 3)
    assert problem.message == "tab character — YAML indents with spaces only; replace the tab with spaces"


@pytest.mark.parametrize("text", [
    'providers:\n  - name: openai\n    api_key: "sk-proj-Abc123Def456Ghi789Jkl012Mno345\n',
    "providers:\n  - name: openai\n    api_key sk-proj-Abc123Def456Ghi789Jkl012Mno345\n",
    "providers:\n  - name: openai\n    headers: x: sk-proj-Abc123Def456Ghi789Jkl012Mno345\n",
    'providers:\n  - name: openai\n    headers:\n      X-Auth-Token: "Abc123-plain-words\n',
])
def test_a_fix_never_quotes_a_key_back(text: str) -> None:
    _, [problem] = check_text(text, "lab.yaml")
    assert problem.message.startswith("YAML syntax error: ")
    assert "Abc123" not in problem.message


def test_a_valid_multi_line_quoted_value_is_not_taken_for_an_unclosed_quote() -> None:
    text = 'ui:\n  theme: "textual-\n    dark"\n  refresh_s: [\n'
    _, [problem] = check_text(text, "lab.yaml")
    assert (problem.line, problem.col) == (4, 14)
    assert "the '[' opened here is not closed" in problem.message


LONG_LINE_CPU_S = 10.0
"""CPU seconds explaining a 200 KB line may cost; a pattern that backtracked over it took 40 s, and minutes at 1 MiB."""


@pytest.mark.parametrize("text", [
    "providers:\n  - name: box\n k" + " " * 200_000 + "x\n",
    "providers:\n  - name: box\n     kind: x" + " " * 200_000 + "y\n",
    "providers:\n  - {name: " + "b" * 200_000 + ",kind x: y: z}\n",
    "providers:\n" + '  - "box\n' * 30_000 + " k: 1\n",
])
def test_a_long_hostile_line_is_explained_in_linear_time(text: str) -> None:
    started = time.process_time()
    _, [problem] = check_text(text, "lab.yaml")
    assert problem.message.startswith("YAML syntax error: ")
    assert time.process_time() - started < LONG_LINE_CPU_S
