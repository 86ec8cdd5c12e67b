"""ComfyUIAdapter against the ComfyUI emulator: HTTP + websocket over real loopback."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from providers.adapters.comfyui import ComfyUIAdapter, checkpoint_names
from providers.adapters.comfyui_graph import comfy_sampler, text_to_image_graph
from providers.base import AdapterOptions, ImageProgress, ImageRequest
from providers.emulators.comfyui import build
from providers.emulators.comfyui_jobs import CHECKPOINTS, CORRUPT_CHECKPOINT
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.emulators.text import Pace
from providers.errors import (
    BadRequestError,
    ProtocolError,
    ProviderTimeoutError,
    ServerError,
    UnreachableError,
)
from providers.health_policy import probe_health
from tests.conftest import EmulatorFactory
from tests.emulator_control import comfy_engine
from tests.png_check import decoded_png_size
from tests.waiting import HANG_S, bounded, wait_for_condition

SMALL = {"width": 64, "height": 64, "steps": 4}


def adapter_for(url: str, client: httpx.AsyncClient, *, timeout_s: float = 30.0,
                headers: dict[str, str] | None = None, image_timeout_s: float = 600.0) -> ComfyUIAdapter:
    options = AdapterOptions(name="comfy", base_url=url, kind="comfyui", timeout_s=timeout_s,
                             connect_timeout_s=2.0, headers=headers or {}, image_timeout_s=image_timeout_s)
    return ComfyUIAdapter(options, client)


async def test_default_graph_produces_png_of_requested_size(emulator: EmulatorFactory,
                                                            client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("comfyui").url, client)
    seen: list[ImageProgress] = []
    result = await adapter.generate_image(ImageRequest("a red fox", width=64, height=40, steps=4, seed=77),
                                          seen.append)
    assert decoded_png_size(result.png) == (64, 40)
    assert (result.width, result.height, result.seed) == (64, 40, 77)
    assert result.model == CHECKPOINTS[0]  # no model asked: the first checkpoint listed
    assert [p.fraction for p in seen] == [0.25, 0.5, 0.75, 1.0]
    assert seen[0].steps == 4


async def test_random_seed_is_made_concrete_for_comfyui(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("comfyui").url, client)
    result = await adapter.generate_image(ImageRequest("x", seed=-1, model=CHECKPOINTS[1], **SMALL))
    assert isinstance(result.seed, int) and result.seed >= 0
    assert result.model == CHECKPOINTS[1]


@pytest.mark.parametrize("legacy_combo", [False, True])
async def test_checkpoints_listed_in_either_object_info_shape(client: httpx.AsyncClient, legacy_combo: bool) -> None:
    plan = FaultPlan()
    with EmulatorServer(app=build(plan=plan, pace=Pace(), seed=0, flavour="comfyui", legacy_combo=legacy_combo),
                        plan=plan) as server:
        raw = (await client.get(f"{server.url}/object_info/CheckpointLoaderSimple")).json()
        spec = raw["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"]
        assert isinstance(spec[0], list) is legacy_combo
        models = await adapter_for(server.url, client).list_models()
    assert [m.name for m in models] == list(CHECKPOINTS)
    assert {m.kind for m in models} == {"image"}


def test_checkpoint_names_tolerates_unknown_shapes() -> None:
    assert checkpoint_names({}) == []
    assert checkpoint_names({"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": ["COMBO"]}}}}) == []


async def test_execution_error_becomes_server_error(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("comfyui").url, client)
    with pytest.raises(ServerError, match="HeaderTooLarge"):
        await adapter.generate_image(ImageRequest("x", model=CORRUPT_CHECKPOINT, **SMALL))


async def test_node_validation_error_is_bad_request_naming_the_node(emulator: EmulatorFactory,
                                                                   client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("comfyui").url, client)
    with pytest.raises(BadRequestError, match=r"CheckpointLoaderSimple\) Value not in list: ckpt_name: 'missing"):
        await adapter.generate_image(ImageRequest("x", model="missing.safetensors", **SMALL))


async def test_foreign_origin_gets_403_and_same_origin_passes(emulator: EmulatorFactory,
                                                              client: httpx.AsyncClient) -> None:
    server = emulator("comfyui")
    host = server.url.split("://", 1)[1]
    foreign = await client.get(f"{server.url}/system_stats", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    same = await client.get(f"{server.url}/system_stats", headers={"Origin": f"http://{host}"})
    assert same.status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"ws://{host}/ws?clientId=x", origin="http://evil.example", proxy=None)
    assert refused.value.response.status_code == 403


async def test_adapter_never_sends_origin_even_when_configured(emulator: EmulatorFactory) -> None:
    sent: list[httpx.Headers] = []

    async def remember(request: httpx.Request) -> None:
        sent.append(request.headers)

    async with httpx.AsyncClient(event_hooks={"request": [remember]}, trust_env=False) as hooked:
        adapter = adapter_for(emulator("comfyui").url, hooked, headers={"Origin": "http://evil.example"})
        result = await adapter.generate_image(ImageRequest("x", **SMALL))
        assert (await probe_health(adapter, HANG_S)).status == "up"
    assert result.width == 64
    assert len(sent) >= 4
    assert all("origin" not in headers for headers in sent)


async def test_interrupt_stops_a_running_prompt_early(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    # 300 steps = 100 s, longer than the wait's hang bound: only the interrupt can end the prompt within it
    adapter = adapter_for(emulator("comfyui", pace=Pace(tokens_per_s=3)).url, client, timeout_s=120)
    started = asyncio.Event()
    job = asyncio.create_task(adapter.generate_image(
        ImageRequest("long", width=64, height=64, steps=300), lambda p: started.set()))
    await bounded(started.wait(), what="the prompt to start")
    assert (await adapter.queue()).running == 1
    await adapter.interrupt()
    with pytest.raises(BadRequestError, match="interrupted"):
        await bounded(job, what="the interrupted prompt")
    queue = await adapter.queue()
    assert (queue.running, queue.pending) == (0, 0)


async def test_health_shows_vram_and_free_releases_the_checkpoint(emulator: EmulatorFactory,
                                                                  client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("comfyui").url, client)
    idle = await probe_health(adapter, HANG_S)
    assert (idle.status, idle.version) == ("up", "0.3.40")
    assert idle.vram_total_bytes == 24 * 1024**3
    await adapter.generate_image(ImageRequest("x", **SMALL))
    loaded = await probe_health(adapter, HANG_S)
    assert loaded.vram_used_bytes is not None and idle.vram_used_bytes is not None
    assert loaded.vram_used_bytes > idle.vram_used_bytes
    await adapter.free()
    assert (await probe_health(adapter, HANG_S)).vram_used_bytes == idle.vram_used_bytes


async def test_refused_is_unreachable_and_health_down(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("comfyui", faults="refuse").url, client)
    assert (await probe_health(adapter, HANG_S)).status == "down"
    with pytest.raises(UnreachableError):
        await adapter.generate_image(ImageRequest("x", model=CHECKPOINTS[0], **SMALL))


async def test_image_timeout_bounds_a_slow_prompt_and_interrupts_it(emulator: EmulatorFactory,
                                                                     client: httpx.AsyncClient) -> None:
    server = emulator("comfyui", pace=Pace(tokens_per_s=2))
    adapter = adapter_for(server.url, client, image_timeout_s=1.0)
    with pytest.raises(ProviderTimeoutError, match="image_timeout_s") as caught:  # not the 100 s of the prompt
        await bounded(adapter.generate_image(ImageRequest("x", model=CHECKPOINTS[0], width=64, height=64, steps=200)),
                      what="the timeout")
    assert caught.value.phase == "total"
    engine = comfy_engine(server)  # interrupted on the way out, not left to run for nobody
    await wait_for_condition(lambda: engine.queue_remaining() == 0, what="the prompt interrupted")


async def test_server_going_away_mid_prompt_is_an_error_not_a_finish(emulator: EmulatorFactory,
                                                                    client: httpx.AsyncClient) -> None:
    server = emulator("comfyui", pace=Pace(tokens_per_s=2))  # 150 steps = 75 s: the server goes first
    adapter = adapter_for(server.url, client, timeout_s=120)
    started = asyncio.Event()
    job = asyncio.create_task(adapter.generate_image(
        ImageRequest("x", model=CHECKPOINTS[0], width=64, height=64, steps=150), lambda p: started.set()))
    await bounded(started.wait(), what="the prompt to start")
    await asyncio.to_thread(server.refuse)
    with pytest.raises((ProtocolError, UnreachableError)):
        await bounded(job, what="the job to fail")


def test_graph_carries_the_request_and_maps_a1111_sampler_names() -> None:
    request = ImageRequest("cat", negative="blurry", width=320, height=192, steps=9, sampler="DPM++ 2M Karras",
                           cfg_scale=5.5)
    graph = text_to_image_graph(request, checkpoint="m.safetensors", seed=5)
    expected = {"seed": 5, "steps": 9, "cfg": 5.5, "sampler_name": "dpmpp_2m", "scheduler": "karras"}
    assert graph["3"]["inputs"].items() >= expected.items()
    assert graph["5"]["inputs"]["width"] == 320 and graph["5"]["inputs"]["height"] == 192
    assert (graph["6"]["inputs"]["text"], graph["7"]["inputs"]["text"]) == ("cat", "blurry")
    assert graph["4"]["inputs"]["ckpt_name"] == "m.safetensors"
    assert comfy_sampler("euler_ancestral") == ("euler_ancestral", "normal")
