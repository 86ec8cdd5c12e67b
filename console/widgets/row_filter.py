"""The `/` filter of every table: a case-insensitive substring; a leading `!` keeps the rows that do not match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Matchable(Protocol):
    def matches(self, needle: str) -> bool:
        """Whether the row's text holds `needle` (already lower-case)."""
        ...


@dataclass(frozen=True, slots=True)
class RowFilter:
    needle: str = ""
    """Lower-case; empty keeps every row."""
    inverted: bool = False

    @classmethod
    def parse(cls, text: str) -> RowFilter:
        text = text.strip()
        return cls(text.removeprefix("!").strip().lower(), text.startswith("!"))

    def keeps(self, row: Matchable) -> bool:
        return not self.needle or row.matches(self.needle) != self.inverted

    def keeps_text(self, text: str) -> bool:
        return not self.needle or (self.needle in text.lower()) != self.inverted

    def __str__(self) -> str:
        return f"{'!' if self.inverted else ''}{self.needle}"
