"""The one `/` filter every table uses: substring, case-insensitive, `!` inverts, blanks ignored."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from console.widgets.row_filter import RowFilter


@dataclass
class Row:
    text: str

    def matches(self, needle: str) -> bool:
        return needle in self.text.lower()


ROWS = [Row("box-vLLM up"), Row("local-ollama down"), Row("cloud up")]


@pytest.mark.parametrize(("typed", "kept"), [
    ("", ["box-vLLM up", "local-ollama down", "cloud up"]),
    ("   ", ["box-vLLM up", "local-ollama down", "cloud up"]),
    ("VLLM", ["box-vLLM up"]),
    (" up ", ["box-vLLM up", "cloud up"]),
    ("!up", ["local-ollama down"]),
    ("! up", ["local-ollama down"]),
    ("!", ["box-vLLM up", "local-ollama down", "cloud up"]),
    ("nothing", []),
])
def test_rows_and_texts_are_kept_alike(typed: str, kept: list[str]) -> None:
    keep = RowFilter.parse(typed)
    assert [row.text for row in ROWS if keep.keeps(row)] == kept
    assert [row.text for row in ROWS if keep.keeps_text(row.text)] == kept


def test_the_filter_reads_back_as_typed_without_the_blanks() -> None:
    assert str(RowFilter.parse("  !Box ")) == "!box"
