"""Image jobs have their own limits, apart from the per-read timeout_s: the whole job (image_timeout_s) and progress
standing still (image_idle_s). However a job ends short of an image (cancelled, stalled, timed out, failed midway)
it is taken off the server. Against the ComfyUI and A1111 emulators made slow or held over real loopback, and the
OpenAI emulator for the one-POST images path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from config.schema import ProviderConfig
from providers.adapters import build_adapter
from providers.adapters.comfyui_graph import text_to_image_graph
from providers.base import Adapter, AdapterOptions, ImageProgress, ImageRequest
from providers.deck import adapter_options
from providers.emulators.comfyui_jobs import CHECKPOINTS
from providers.emulators.faults import FAULT_HEADER
from providers.emulators.server import EmulatorServer
from providers.errors import ProviderTimeoutError
from tests.conftest import EmulatorFactory
from tests.emulator_control import a1111_webui, comfy_engine, image_jobs_held, image_jobs_slowed
from tests.png_check import decoded_png_size
from tests.waiting import HANG_S, bounded, wait_for_condition

KINDS = ("comfyui", "a1111")
READ_TIMEOUT_S = 2.0
"""The per-read timeout_s of the slow-job test: far above any single read of the emulators on loopback, however
loaded the machine, yet well below the job."""
SLOW_JOB_S = 4 * READ_TIMEOUT_S
"""Longer than timeout_s: a job this long on the server failed before image_timeout_s, when timeout_s bounded it."""
SLOW_JOB_STEPS = 20
"""Steps of 0.4 s: no step waits as long as timeout_s, and A1111's progress polls (0.2 s apart) see most of them."""
HELD = ImageRequest("held", width=64, height=64, steps=8)
"""Held halfway (step 4 of 8) by image_jobs_held: it would wait there for ever, so only an interrupt ends it."""


def adapter_for(server: EmulatorServer, kind: str, client: httpx.AsyncClient, **options: Any) -> Adapter:
    return build_adapter(AdapterOptions(name=kind, base_url=server.url, kind=kind, **options), client)


def queue_empty(server: EmulatorServer, kind: str) -> Callable[[], bool]:
    """Whether the emulated server has nothing running and nothing waiting."""
    if kind == "comfyui":
        engine = comfy_engine(server)
        return lambda: engine.queue_remaining() == 0
    webui = a1111_webui(server)
    return lambda: webui.job is None and webui.waiting == 0


def interrupted_jobs(server: EmulatorServer, kind: str) -> list[str]:
    """How each job on the emulated server ended: "interrupted", or anything else it says."""
    if kind == "a1111":
        return list(a1111_webui(server).outcomes)
    history = comfy_engine(server).history.values()
    return ["interrupted" if entry["status"]["messages"][-1][0] == "execution_interrupted"
            else entry["status"]["status_str"] for entry in history]


def at_halfway(event: asyncio.Event) -> Callable[[ImageProgress], None]:
    def seen(progress: ImageProgress) -> None:
        if progress.fraction >= 0.5:
            event.set()
    return seen


def test_by_default_an_image_job_may_last_far_longer_than_one_read() -> None:
    """The defaults as configured: each read 30 s, the whole job 600 s, progress standing still 120 s."""
    for kind in KINDS:
        options = adapter_options(ProviderConfig(name=kind, kind=kind, base_url="http://127.0.0.1:9"))
        assert (options.timeout_s, options.image_timeout_s, options.image_idle_s) == (30.0, 600.0, 120.0)


async def test_a_job_longer_than_timeout_s_succeeds_within_the_image_limits_and_shows_rising_progress(
        emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    """Both servers at once, so the suite pays the slow job once. timeout_s is made small so that a job a few
    times longer stays short; image_timeout_s and image_idle_s keep their defaults."""
    servers = {kind: emulator(kind) for kind in KINDS}
    seen: dict[str, list[float]] = {kind: [] for kind in KINDS}

    async def generate(kind: str) -> bytes:
        adapter = adapter_for(servers[kind], kind, client, timeout_s=READ_TIMEOUT_S)
        assert adapter.options.timeout_s < SLOW_JOB_S < adapter.options.image_timeout_s
        request = ImageRequest("a slow lighthouse", width=64, height=48, steps=SLOW_JOB_STEPS, seed=3)
        result = await adapter.generate_image(request, lambda p: seen[kind].append(p.fraction))
        return result.png

    started = time.monotonic()
    with image_jobs_slowed(servers["comfyui"], SLOW_JOB_S), image_jobs_slowed(servers["a1111"], SLOW_JOB_S):
        pngs = await bounded(asyncio.gather(*(generate(kind) for kind in KINDS)), what="two slow jobs",
                             timeout_s=SLOW_JOB_S + HANG_S)
    assert time.monotonic() - started >= SLOW_JOB_S  # the premise: each job outlived timeout_s on the server
    for kind, png in zip(KINDS, pngs, strict=True):
        assert decoded_png_size(png) == (64, 48)
        fractions = seen[kind]
        assert fractions == sorted(set(fractions)), (kind, fractions)  # only ever rising
        assert fractions[-1] == 1.0
        assert len([f for f in fractions if 0 < f < 1]) >= 10, (kind, fractions)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cancelled_job_is_interrupted_on_the_server(kind: str, emulator: EmulatorFactory,
                                                            client: httpx.AsyncClient) -> None:
    server = emulator(kind)
    adapter = adapter_for(server, kind, client)
    halfway = asyncio.Event()
    with image_jobs_held(server):
        job = asyncio.create_task(adapter.generate_image(HELD, at_halfway(halfway)))
        await bounded(halfway.wait(), what="the job halfway")
        job.cancel()  # as the console does when the operator gives up, or the app exits
        await asyncio.wait({job}, timeout=HANG_S)
        assert job.cancelled()
        await wait_for_condition(queue_empty(server, kind), what="the server's queue empty")
    assert interrupted_jobs(server, kind) == ["interrupted"]


@pytest.mark.parametrize("kind", KINDS)
async def test_progress_standing_still_is_a_stall_and_the_job_is_interrupted(kind: str, emulator: EmulatorFactory,
                                                                             client: httpx.AsyncClient) -> None:
    server = emulator(kind)
    adapter = adapter_for(server, kind, client, image_idle_s=1.0)  # the limit under test, not a wait
    with image_jobs_held(server):
        with pytest.raises(ProviderTimeoutError, match=r"no progress for 1 s \(image_idle_s") as caught:
            await bounded(adapter.generate_image(HELD), what="the stall")
        assert caught.value.phase == "idle"
        await wait_for_condition(queue_empty(server, kind), what="the server's queue empty")
    assert interrupted_jobs(server, kind) == ["interrupted"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_job_past_image_timeout_s_is_interrupted(kind: str, emulator: EmulatorFactory,
                                                         client: httpx.AsyncClient) -> None:
    server = emulator(kind)
    adapter = adapter_for(server, kind, client, image_timeout_s=3.0)  # the limit under test, not a wait
    with image_jobs_held(server):
        with pytest.raises(ProviderTimeoutError, match=r"within 3 s \(image_timeout_s") as caught:
            await bounded(adapter.generate_image(HELD), what="the timeout")
        assert caught.value.phase == "total"
        await wait_for_condition(queue_empty(server, kind), what="the server's queue empty")
    assert interrupted_jobs(server, kind) == ["interrupted"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_job_failing_midway_is_interrupted(kind: str, emulator: EmulatorFactory,
                                                   client: httpx.AsyncClient) -> None:
    server = emulator(kind)
    adapter = adapter_for(server, kind, client)

    def broken_display(progress: ImageProgress) -> None:
        if progress.fraction >= 0.5:
            raise RuntimeError("the progress display broke")

    with image_jobs_held(server):
        with pytest.raises(RuntimeError, match="display broke"):
            await bounded(adapter.generate_image(HELD, broken_display), what="the failure")
        await wait_for_condition(queue_empty(server, kind), what="the server's queue empty")
    assert interrupted_jobs(server, kind) == ["interrupted"]


async def test_a_comfyui_prompt_cancelled_while_waiting_is_deleted_and_the_running_one_left_alone(
        emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    server = emulator("comfyui")
    engine = comfy_engine(server)
    adapter = adapter_for(server, "comfyui", client)
    graph = text_to_image_graph(HELD, checkpoint=CHECKPOINTS[0], seed=1)
    with image_jobs_held(server):
        reply = await client.post(f"{server.url}/prompt", json={"prompt": graph, "client_id": "someone-else"})
        theirs = reply.json()["prompt_id"]
        await wait_for_condition(lambda: (running := engine.running) is not None and running.prompt_id == theirs,
                                 what="their prompt running")
        job = asyncio.create_task(adapter.generate_image(HELD))
        await wait_for_condition(lambda: len(engine.pending) == 1, what="our prompt waiting behind theirs")
        job.cancel()
        await asyncio.wait({job}, timeout=HANG_S)
        assert job.cancelled()
        await wait_for_condition(lambda: not engine.pending, what="our prompt deleted from the queue")
        running = engine.running
        assert running is not None and running.prompt_id == theirs and not running.interrupted
    await wait_for_condition(lambda: theirs in engine.history, what="their prompt finished")
    assert list(engine.history) == [theirs]  # ours never ran
    assert engine.history[theirs]["status"]["status_str"] == "success"


async def test_the_openai_images_read_may_last_image_timeout_s_not_timeout_s(emulator: EmulatorFactory,
                                                                            client: httpx.AsyncClient) -> None:
    server = emulator("openai")
    # The reply comes 2 s late, past timeout_s: a read bounded by timeout_s would fail.
    adapter = adapter_for(server, "openai", client, api_key=lambda: "sk-lab-0001", timeout_s=0.5,
                          image_timeout_s=HANG_S, headers={FAULT_HEADER: "delay:2"})
    result = await bounded(adapter.generate_image(ImageRequest("a kite", width=64, height=64, model="gpt-image-1")),
                           what="the late image")
    assert decoded_png_size(result.png) == (64, 64)


async def test_an_openai_image_past_image_timeout_s_is_a_timeout_naming_it(emulator: EmulatorFactory,
                                                                           client: httpx.AsyncClient) -> None:
    server = emulator("openai")
    adapter = adapter_for(server, "openai", client, api_key=lambda: "sk-lab-0001", image_timeout_s=1.0,
                          headers={FAULT_HEADER: "stall_first:600"})
    with pytest.raises(ProviderTimeoutError, match=r"within 1 s \(image_timeout_s") as caught:
        await bounded(adapter.generate_image(ImageRequest("a kite", width=64, height=64, model="gpt-image-1")),
                      what="the timeout")
    assert caught.value.phase == "total"
