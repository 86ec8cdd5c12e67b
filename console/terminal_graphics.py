"""Terminal picture protocols: the one place textual-image is imported, probed before Textual owns the terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, TextIO

from console.widgets.png_decode import RgbImage, preview_size

if TYPE_CHECKING:
    from pathlib import Path

    from textual.widget import Widget

Detected = Literal["kitty", "sixel", "none"]
"""What textual-image found the terminal answering to: the kitty graphics protocol (TGP), Sixel, or neither."""
Preview = Literal["kitty", "sixel", "halfblock", "none"]
"""How the Images pane draws its preview."""

PROBED_SETTINGS = ("auto", "kitty", "sixel", "iterm2")

_detected: Detected = "none"


def remote_or_multiplexed(environ: Mapping[str, str]) -> bool:
    """Over SSH or inside tmux, picture escape sequences are slow or mangled, and probing for them stalls."""
    return bool(environ.get("SSH_CONNECTION") or environ.get("TMUX"))


GRAPHICS_TERMINAL_VARIABLES = ("KITTY_WINDOW_ID", "WEZTERM_EXECUTABLE", "GHOSTTY_RESOURCES_DIR", "KONSOLE_VERSION",
                               "ITERM_SESSION_ID", "WT_SESSION")
"""Variables set by terminals that draw kitty-protocol or Sixel pictures."""
GRAPHICS_TERMS = ("kitty", "ghostty", "wezterm", "foot", "mlterm", "contour", "yaft")
GRAPHICS_TERM_PROGRAMS = ("WezTerm", "iTerm.app", "ghostty", "vscode", "mintty", "rio")


def graphics_hinted(environ: Mapping[str, str]) -> bool:
    """Whether the environment names a terminal known to draw pictures. Without such a hint `auto` does not probe:
    a terminal that ignores the kitty query costs a 0.1 s timeout (0.3 s when it answers nothing) on every start."""
    term = environ.get("TERM", "")
    return (any(environ.get(name) for name in GRAPHICS_TERMINAL_VARIABLES)
            or any(name in term for name in GRAPHICS_TERMS)
            or environ.get("TERM_PROGRAM", "") in GRAPHICS_TERM_PROGRAMS)


def should_probe(setting: str, environ: Mapping[str, str], *, stdout_is_tty: bool) -> bool:
    """Whether asking the terminal what it can draw is useful and safe: a local tty, and either a protocol named
    in `ui.image_protocol` or, for `auto`, a terminal the environment says can draw pictures."""
    if not stdout_is_tty or setting not in PROBED_SETTINGS or remote_or_multiplexed(environ):
        return False
    return setting != "auto" or graphics_hinted(environ)


def preview_protocol(setting: str, environ: Mapping[str, str], *, detected: Detected) -> Preview:
    """`ui.image_protocol` wins; kitty/sixel force that protocol on a terminal that showed graphics support,
    iterm2 and auto take what was detected (textual-image speaks TGP and Sixel, which iTerm2 answers to);
    anything else, or a remote or tmux session, is half-block."""
    if setting in ("none", "halfblock"):
        return setting  # type: ignore[return-value]
    if detected == "none" or setting not in PROBED_SETTINGS or remote_or_multiplexed(environ):
        return "halfblock"
    if setting in ("kitty", "sixel"):
        return setting  # type: ignore[return-value]
    return detected


def detected() -> Detected:
    """What `probe` found (``"none"`` until it has run, and whenever it was skipped)."""
    return _detected


def probe(setting: str, environ: Mapping[str, str] | None = None, stdout: TextIO | None = None) -> Detected:
    """Ask the terminal which picture protocol it speaks; call before the App runs (Textual would swallow the
    answer). Importing textual-image's widget sends the queries and caches the cell size it needs later."""
    global _detected
    environ = os.environ if environ is None else environ
    stdout = sys.__stdout__ if stdout is None else stdout
    is_tty = stdout is not None and stdout.isatty()
    if not should_probe(setting, environ, stdout_is_tty=is_tty):
        return _detected
    try:
        import textual_image.widget  # noqa: F401  (the import itself queries the terminal)
        from textual_image import renderable
    except Exception:  # a terminal that answers oddly must not keep the console from starting
        return _detected
    if renderable.Image is renderable.TGPImage:
        _detected = "kitty"
    elif renderable.Image is renderable.SixelImage:
        _detected = "sixel"
    return _detected


def graphics_view(protocol: Literal["kitty", "sixel"], *, id: str | None = None) -> Widget:
    """textual-image's widget for the protocol; only called once `probe` has found graphics support."""
    from textual_image.widget import SixelImage, TGPImage

    widget: Widget = SixelImage(id=id) if protocol == "sixel" else TGPImage(id=id)
    widget.styles.width = widget.styles.height = "auto"  # as large as the box allows, keeping the aspect ratio
    return widget


def open_picture(path: Path) -> object:
    """A PNG file read fully into a Pillow image (blocking: call it from a thread); OSError if unreadable,
    PngError if it declares more pixels than a preview holds (checked before Pillow inflates anything)."""
    from PIL import Image

    with path.open("rb") as handle:
        preview_size(handle.read(33))
    with Image.open(path) as picture:
        picture.load()
        return picture.copy()


def show_in(view: Widget, image: object) -> None:
    """Put decoded pixels, or a picture from `open_picture`, into a `graphics_view`."""
    from PIL import Image

    if isinstance(image, RgbImage):
        image = Image.frombytes("RGB", (image.width, image.height), image.pixels)
    view.image = image  # type: ignore[attr-defined]
