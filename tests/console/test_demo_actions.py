"""Every action works on the demo: a pull streams its layers over seconds and can be cancelled, each provider's
restart argv really restarts its emulator, image jobs show progress, and what the operator keeps (exports,
images) outlives the demo.

The demo here is paced as `llmdeck --demo` runs it, except for the restart tests, which need only its config.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing, contextmanager
from pathlib import Path

import httpx
import pytest

from console.demo import DemoSession
from providers.base import ImageProgress, ImageRequest
from providers.chat_settings import ChatSettings
from providers.deck import Deck
from providers.emulators.server import EmulatorServer
from providers.monitor import MonitorPolicy
from providers.restart import RestartPlan, run_restart
from providers.sessions import SessionBook
from tests.emulator_control import ollama_state, pulls_held
from tests.waiting import bounded, wait_for_condition

OLLAMA = "local-ollama"
BIG_MODEL = "llama3.1:8b"  # not installed at start: a pull fetches every layer
QUICK_MONITOR = MonitorPolicy(interval_s=2.0, fast_interval_s=0.2, probe_timeout_s=10.0)


@pytest.fixture
def paced_demo() -> Iterator[DemoSession]:
    session = DemoSession.start(paced=True)
    yield session
    session.stop()


@pytest.fixture
def quick_demo() -> Iterator[DemoSession]:
    session = DemoSession.start(paced=False)
    yield session
    session.stop()


async def started_deck(demo: DemoSession, *, monitor: bool = False) -> Deck:
    deck = Deck(demo.config, demo.data_dir, monitor_policy=QUICK_MONITOR, demo=True, output_dir=demo.output_dir)
    await deck.start(monitor=monitor)
    return deck


@pytest.fixture
async def paced_deck(paced_demo: DemoSession) -> AsyncIterator[Deck]:
    deck = await started_deck(paced_demo)
    yield deck
    await deck.stop()


@contextmanager
def restarts_held(server: EmulatorServer) -> Iterator[EmulatorServer]:
    """While inside, a restarted emulator stays down: a test sees it down without racing its return."""
    server.hold_restarts = True
    try:
        yield server
    finally:
        server.hold_restarts = False


async def test_a_demo_pull_streams_every_layer_with_rising_progress_over_seconds(paced_demo: DemoSession) -> None:
    url = paced_demo.lab.servers[OLLAMA].url
    arrivals: list[tuple[float, dict[str, object]]] = []
    async with httpx.AsyncClient(timeout=60.0, trust_env=False) as client, \
            client.stream("POST", f"{url}/api/pull", json={"model": BIG_MODEL}) as response:
        async for line in response.aiter_lines():
            arrivals.append((time.monotonic(), json.loads(line)))
    statuses = [event["status"] for _, event in arrivals]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert statuses.index("verifying sha256 digest") < statuses.index("writing manifest")
    completed: dict[str, list[int]] = {}
    totals: dict[str, int] = {}
    for _, event in arrivals:
        if isinstance(digest := event.get("digest"), str):
            totals[digest] = int(str(event["total"]))
            if "completed" in event:
                completed.setdefault(digest, []).append(int(str(event["completed"])))
    assert len(totals) >= 3  # the weights, then template, license and params
    weights = max(totals, key=lambda d: totals[d])
    assert totals[weights] > 1_000_000_000 and sum(totals.values()) - totals[weights] < 100_000
    for digest, values in completed.items():
        assert values == sorted(values) and values[-1] == totals[digest], digest
    assert len(set(completed[weights])) >= 10  # the big blob fills step by step
    assert set(completed) == set(totals)
    first_progress = next(t for t, event in arrivals if "completed" in event)
    assert arrivals[-1][0] - first_progress > 1.0  # long enough to watch, and to press `x`


async def test_a_demo_pull_cancelled_midway_stops_and_installs_nothing(
        paced_demo: DemoSession, paced_deck: Deck) -> None:
    server = paced_demo.lab.servers[OLLAMA]
    with pulls_held(server) as state:  # it cannot finish before it is cancelled, however slow the machine
        seen = 0.0
        pull = paced_deck.pull(OLLAMA, BIG_MODEL)
        assert isinstance(pull, AsyncGenerator)
        async with aclosing(pull):  # closing it drops the connection, as `x` in the Models pane does
            while seen == 0.0:
                progress = await bounded(anext(pull), what="the pull's first progress")
                seen = progress.fraction or 0.0
        assert 0.0 < seen < 0.5
        await wait_for_condition(lambda: state.cancelled["pull"] == 1 and state.active_pulls == 0,
                                 what="the emulator to see the pull cancelled")
    assert ollama_state(server).find(BIG_MODEL) is None


@pytest.mark.parametrize("provider", ["sd", "comfy"])
async def test_a_demo_image_job_reports_its_progress_step_by_step(
        paced_demo: DemoSession, paced_deck: Deck, provider: str) -> None:
    steps: list[ImageProgress] = []
    # Fewer steps than the default 20 (a few seconds in the demo) keep the test short; the pace is the demo's.
    request = ImageRequest("a lab at night", width=64, height=64, steps=6)
    saved = await bounded(paced_deck.generate_image(provider, request, on_progress=steps.append),
                          what="the image job")
    fractions = [p.fraction for p in steps]
    assert len({f for f in fractions if 0.0 < f < 1.0}) >= 2 and fractions == sorted(fractions)
    assert saved.path.is_relative_to(paced_demo.output_dir)


async def test_exports_and_images_of_the_demo_outlive_it(isolated_home: Path) -> None:
    demo = await asyncio.to_thread(DemoSession.start, paced=False)
    try:
        assert demo.output_dir.is_relative_to(isolated_home) and not demo.output_dir.is_relative_to(demo.data_dir)
        deck = await started_deck(demo)
        try:
            book = SessionBook(deck)
            session = await book.create("kept from the demo", "chat", ChatSettings())
            exported = await book.export(session.id)
            image = await deck.generate_image("sd", ImageRequest("kept", width=32, height=32, steps=2))
        finally:
            await deck.stop()
    finally:
        await asyncio.to_thread(demo.stop)
    assert not demo.data_dir.exists()  # the ledger went with the demo
    assert exported.parent == demo.output_dir / "exports" and "kept from the demo" in exported.read_text()
    assert image.path.parent == demo.output_dir / "images" and image.path.read_bytes().startswith(b"\x89PNG")


def test_every_demo_provider_restarts_its_own_emulator(quick_demo: DemoSession) -> None:
    for provider in quick_demo.config.providers:
        assert provider.restart is not None, provider.name
        assert provider.restart[-1] == quick_demo.lab.servers[provider.name].url


async def test_the_restart_argv_takes_the_emulator_down_and_brings_it_back(quick_demo: DemoSession) -> None:
    server = quick_demo.lab.servers[OLLAMA]
    argv = next(p.restart for p in quick_demo.config.providers if p.name == OLLAMA)
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        with restarts_held(server):
            outcome = await bounded(run_restart(RestartPlan(OLLAMA, argv)), what="the restart command")
            assert outcome.returncode == 0, outcome.output
            assert "stopped listening" in outcome.output
            await wait_for_condition(lambda: not server.listening, what="the old listener gone")
            assert server.restarts == 0
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{server.url}/api/version")
        await wait_for_condition(lambda: server.restarts == 1 and server.listening, what="the emulator back")
        answer = await client.get(f"{server.url}/api/version")  # on the same port, with its models kept
        assert answer.status_code == 200
        assert ollama_state(server).find("qwen2.5:7b") is not None


async def test_restart_through_the_deck_shows_the_provider_down_then_up(quick_demo: DemoSession) -> None:
    deck = await started_deck(quick_demo, monitor=True)
    try:
        await wait_for_condition(lambda: (h := deck.health_of("sd")) is not None and h.status == "up",
                                 what="sd up")
        server = quick_demo.lab.servers["sd"]
        with restarts_held(server):
            outcome = await bounded(deck.restart("sd"), what="the restart")
            assert outcome.returncode == 0, outcome.output
            await wait_for_condition(lambda: (h := deck.health_of("sd")) is not None and h.status == "down",
                                     what="sd down")
        await wait_for_condition(lambda: server.restarts == 1, what="the emulator back")
        deck.probe_now("sd")  # rather than wait out the monitor's back-off for a provider that stayed down
        await wait_for_condition(lambda: (h := deck.health_of("sd")) is not None and h.status == "up",
                                 what="sd up again")
    finally:
        await deck.stop()


async def test_restart_of_an_emulator_that_is_down_says_so(quick_demo: DemoSession) -> None:
    await asyncio.to_thread(quick_demo.set_chaos, OLLAMA, "refuse")
    argv = next(p.restart for p in quick_demo.config.providers if p.name == OLLAMA)
    outcome = await bounded(run_restart(RestartPlan(OLLAMA, argv)), what="the restart command")
    assert outcome.returncode != 0 and "nothing listens" in outcome.output
