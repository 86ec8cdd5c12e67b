"""LedgerBanner: a line across the top while the ledger cannot be used, saying why and what to do."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from providers.deck import Deck
from providers.safe_text import one_line


def banner_text(deck: Deck) -> str | None:
    """What the banner says, or None when the ledger works."""
    problem = deck.ledger_problem
    if problem is None:
        return None
    if deck.history() is None:
        return f"History is off (nothing is kept): {problem}"
    return f"The ledger could not be written: {problem}"


class LedgerBanner(Static):
    """Hidden while the ledger works. The text is the deck's one-line reason, shown as plain text.

    Whoever holds it calls `check()` whenever the ledger may have changed: the console app does on every deck
    message and on every tick of its clock (a write can fail at any time, a disk that fills while the console
    runs); a check that finds the same text redraws nothing."""

    DEFAULT_CSS = """
    LedgerBanner {
        display: none;
        height: auto;
        padding: 0 1;
        background: $error 35%;
        color: $text;
    }
    LedgerBanner.-shown {
        display: block;
    }
    """

    def __init__(self, deck: Deck, *, id: str | None = None) -> None:
        super().__init__("", markup=False, id=id)
        self.deck = deck
        self._said: str | None = None

    def on_mount(self) -> None:
        self.check()

    def check(self) -> None:
        said = banner_text(self.deck)
        if said == self._said:
            return
        self._said = said
        self.set_class(said is not None, "-shown")
        self.update(Text(one_line(said or "")))
