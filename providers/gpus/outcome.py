"""What one GPU source gives back: a reading (its `error` set when the source failed), or NotThere."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

from providers.gpu_info import HostGpus
from providers.safe_text import one_line

MAX_ERROR_CHARS: Final = 300
"""An error is one line of a table: a driver's sentence fits, a hostile megabyte does not."""


@dataclass(frozen=True, slots=True)
class NotThere:
    """The source is missing on the host (no NVML library, no nvidia-smi, no GPU listed): `auto` goes on to the
    next one without calling it a failure. `reason` says which, for the "no GPU (…)" line."""

    reason: str


SourceResult = HostGpus | NotThere


def failed(host: str, source: str, error: str) -> HostGpus:
    """A reading of no GPU because `source` failed; `error` is made one terminal-safe line."""
    return HostGpus(host=host, source=source, error=one_line(error).strip()[:MAX_ERROR_CHARS], read_at=time.time())
