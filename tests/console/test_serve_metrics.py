"""`llmdeck serve-metrics` as a real process over loopback emulators: it says where it listens, answers /metrics
with every configured provider, ends with 0 on SIGINT, SIGTERM and SIGHUP, and refuses an unusable address in
one line with exit 2. The console's `ui.metrics_listen`: checked by the config, served while its Deck runs."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from config.loader import check_text
from config.schema import DeckConfig
from console.commands.serve_metrics import console_metrics
from console.exit_codes import EXIT_USAGE
from providers.deck import Deck
from tests.conftest import EmulatorFactory
from tests.console.test_cli_scripts import LineReader
from tests.waiting import HANG_S, wait_for_condition_sync

ROOT = Path(__file__).resolve().parents[2]
ANNOUNCED = re.compile(r"^llmdeck: serve-metrics: serving (http://127\.0\.0\.1:\d+/metrics) ")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def config(emulator: EmulatorFactory, tmp_path: Path) -> Path:
    """Two providers that answer and one that never does."""
    document = {"providers": [
        {"name": "vl", "kind": "vllm", "base_url": emulator("vllm").url, "host": "box"},
        {"name": "ol", "kind": "ollama", "base_url": emulator("ollama").url},
        {"name": "gone", "kind": "ollama", "base_url": f"http://127.0.0.1:{closed_port()}"},
    ]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def serve_metrics(config: Path, listen: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "console.cli", "serve-metrics", "--listen", listen,
                             "--config", str(config)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=dict(os.environ))


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started; any still running after it is killed (by its own handle)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(HANG_S)


def provider_up(url: str) -> dict[str, float]:
    reply = httpx.get(url, timeout=HANG_S)
    assert reply.status_code == 200
    return {sample.labels["provider"]: sample.value for family in text_string_to_metric_families(reply.text)
            for sample in family.samples if sample.name == "llm_provider_up"}


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_serves_every_provider_and_ends_cleanly_on_a_signal(config: Path, stopped: list[subprocess.Popen[str]],
                                                            stop: signal.Signals) -> None:
    process = serve_metrics(config, "127.0.0.1:0")
    stopped.append(process)
    assert process.stderr is not None
    line = LineReader(process.stderr).next()
    announced = ANNOUNCED.match(line)
    assert announced, line
    url = announced.group(1)
    seen: dict[str, float] = {}

    def probed() -> bool:  # the monitor's first probes come within its first interval
        seen.update(provider_up(url))
        return seen == {"vl": 1.0, "ol": 1.0, "gone": 0.0}

    wait_for_condition_sync(probed, what="llm_provider_up for every provider, from their probes")
    process.send_signal(stop)
    assert process.wait(HANG_S) == 0
    assert process.stderr.read() == "", "nothing more said: no traceback"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=HANG_S)


def test_an_address_in_use_is_one_line_and_exit_2(config: Path, stopped: list[subprocess.Popen[str]]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = serve_metrics(config, f"127.0.0.1:{port}")
        stopped.append(process)
        _, err = process.communicate(timeout=HANG_S)
    assert process.returncode == EXIT_USAGE
    assert err == f"llmdeck: serve-metrics: --listen: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.parametrize(("listen", "said"), [
    ("nonsense", "'nonsense' is not ADDR:PORT (e.g. 127.0.0.1:9464)"),
    ("127.0.0.1:70000", "the port 70000 is not from 0 to 65535"),
    ("192.0.2.1:9464", "cannot listen on 192.0.2.1:9464: "),  # TEST-NET-1: an address no machine has
])
def test_a_bad_listen_address_is_one_line_and_exit_2(config: Path, stopped: list[subprocess.Popen[str]],
                                                     listen: str, said: str) -> None:
    process = serve_metrics(config, listen)
    stopped.append(process)
    _, err = process.communicate(timeout=HANG_S)
    assert process.returncode == EXIT_USAGE
    assert err.startswith(f"llmdeck: serve-metrics: --listen: {said}") and err.count("\n") == 1, err


@pytest.mark.parametrize(("written", "problem"), [
    ("localhost:99999", "the port 99999 is not from 1 to 65535"),
    ("127.0.0.1:0", "the port 0 is not from 1 to 65535"),
    ("9464", "'9464' is not ADDR:PORT (e.g. 127.0.0.1:9464)"),
    ("::1:9464", "write an IPv6 address in brackets, e.g. [::1]:9464"),
])
def test_the_config_checks_ui_metrics_listen(written: str, problem: str) -> None:
    _, problems = check_text(yaml.safe_dump({"ui": {"metrics_listen": written}}), "llmdeck.yaml", {})
    assert len(problems) == 1 and problem in problems[0].message and problems[0].line == 2, problems


def test_the_config_takes_a_good_ui_metrics_listen() -> None:
    for written in ("127.0.0.1:9464", "[::1]:9464", "0.0.0.0:1", "metrics.lab:65535"):
        config, problems = check_text(yaml.safe_dump({"ui": {"metrics_listen": written}}), "llmdeck.yaml", {})
        assert problems == [] and config is not None and config.ui.metrics_listen == written


async def test_the_console_serves_while_its_deck_runs(emulator: EmulatorFactory, tmp_path: Path) -> None:
    port = closed_port()
    config = DeckConfig.model_validate({"providers": [{"name": "vl", "kind": "vllm",
                                                       "base_url": emulator("vllm").url}],
                                        "ui": {"metrics_listen": f"127.0.0.1:{port}"}})
    deck = Deck(config, tmp_path / "data")
    metrics = console_metrics(deck)  # as console/commands/tui.py runs it around the console
    await deck.start()
    try:
        await metrics.start()
        async with httpx.AsyncClient(timeout=HANG_S) as client:
            reply = await client.get(f"http://127.0.0.1:{port}/metrics")
        assert reply.status_code == 200 and 'llm_provider_up{host="",kind="vllm",provider="vl"}' in reply.text
    finally:
        await metrics.stop()
        await deck.stop()
    async with httpx.AsyncClient(timeout=HANG_S) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/metrics")


async def test_the_console_serves_nothing_without_ui_metrics_listen(tmp_path: Path) -> None:
    deck = Deck(DeckConfig(), tmp_path / "data")
    metrics = console_metrics(deck)
    assert await metrics.start() is None
    await metrics.stop()
    await deck.stop()
