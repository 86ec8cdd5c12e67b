"""Provider status as a short coloured badge, coloured from the theme's variables."""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from rich.text import Text
from textual.color import Color, ColorParseError
from textual.reactive import reactive
from textual.widgets import Static

# status → (glyph + word, theme variable)
BADGES: dict[str, tuple[str, str]] = {
    "up": ("● up", "success"),
    "degraded": ("◐ degraded", "warning"),
    "down": ("✖ down", "error"),
    "unauthorized": ("⚿ no key", "error"),
    "unknown": ("? unknown", "foreground-muted"),
    "probing": ("… probing", "foreground-muted"),
}


def theme_style(variable: str, variables: Mapping[str, str], *, bold: bool = False) -> Style:
    """A Rich style in the colour of a theme variable; a translucent colour is blended onto the background."""
    try:
        colour = Color.parse(variables.get(variable, ""))
        if colour.a < 1:
            colour = Color.parse(variables.get("background", "#000000")).blend(colour.with_alpha(1), colour.a)
    except ColorParseError:
        return Style(bold=bold)
    return Style(color=colour.rich_color, bold=bold)


def themed(text: str, variable: str, variables: Mapping[str, str], *, bold: bool = False) -> Text:
    """`text` in the colour of a theme variable (plain when the theme lacks it)."""
    return Text(text, style=theme_style(variable, variables, bold=bold), no_wrap=True, overflow="ellipsis")


def badge_text(status: str, variables: Mapping[str, str]) -> Text:
    """The badge of a status (`probing` before the first probe)."""
    label, variable = BADGES.get(status, (status, "foreground-muted"))
    return themed(label, variable, variables, bold=status in ("down", "unauthorized"))


class StatusBadge(Static):
    """A standalone badge; set `status` to change it."""

    DEFAULT_CSS = "StatusBadge { width: auto; }"

    status: reactive[str] = reactive("probing")

    def render(self) -> Text:
        return badge_text(self.status, self.app.theme_variables)
