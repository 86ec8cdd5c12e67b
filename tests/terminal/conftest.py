"""Shared by the real-terminal tests: the real console over the lab of tests/conftest.py, at 80×24 and at
160×48, started and probed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.emulators.lab import Lab
from tests.terminal.harness import CONSOLE_SIZES, RealTerminal, lab_console


@pytest.fixture(params=CONSOLE_SIZES)
def console(request: pytest.FixtureRequest, lab: Lab, tmp_path: Path) -> Iterator[RealTerminal]:
    columns, lines = request.param
    with lab_console(lab, tmp_path, columns=columns, lines=lines) as terminal:
        terminal.wait_for_text("9/9 up")
        yield terminal
