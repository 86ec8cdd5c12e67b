"""Shared by the real-terminal tests: an unpaced emulator lab per module, and the real console over it at 80×24
and at 160×48, started and probed. A module that needs a lab with faults defines its own `lab`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.emulators.lab import Lab, start_lab
from tests.terminal.harness import RealTerminal, lab_console

SIZES = [(80, 24), (160, 48)]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    running = start_lab(paced=False)
    yield running
    running.stop()


@pytest.fixture(params=SIZES, ids=[f"{c}x{r}" for c, r in SIZES])
def console(request: pytest.FixtureRequest, lab: Lab, tmp_path: Path) -> Iterator[RealTerminal]:
    columns, lines = request.param
    with lab_console(lab, tmp_path, columns=columns, lines=lines) as terminal:
        terminal.wait_for_text("9/9 up")
        yield terminal
