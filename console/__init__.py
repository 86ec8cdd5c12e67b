"""llmdeck console: the Textual app and the command line."""

from __future__ import annotations

__version__ = "0.1.0"
