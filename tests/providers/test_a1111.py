"""A1111Adapter against the stable-diffusion-webui emulator over real loopback HTTP."""

from __future__ import annotations

import asyncio
import struct

import httpx
import pytest

from providers.adapters.a1111 import A1111Adapter, png_dimensions
from providers.base import AdapterOptions, ImageProgress, ImageRequest
from providers.emulators.a1111 import build
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.emulators.text import Pace
from providers.errors import (
    AuthFailedError,
    BadRequestError,
    ProtocolError,
    ProviderTimeoutError,
    UnreachableError,
)
from providers.health_policy import probe_health
from tests.conftest import EmulatorFactory
from tests.png_check import decoded_png_size
from tests.waiting import HANG_S, bounded

SMALL = {"width": 64, "height": 48, "steps": 4}


def adapter_for(url: str, client: httpx.AsyncClient, *, key: str | None = None, timeout_s: float = 30.0,
                image_idle_s: float = 120.0) -> A1111Adapter:
    options = AdapterOptions(name="sd", base_url=url, kind="a1111", timeout_s=timeout_s,
                             api_key=(lambda: key) if key else None, image_idle_s=image_idle_s)
    adapter = A1111Adapter(options, client)
    adapter.progress_interval_s = 0.03
    return adapter


async def test_txt2img_returns_png_of_requested_size_with_seed_from_info(emulator: EmulatorFactory,
                                                                        client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111").url, client)
    result = await adapter.generate_image(ImageRequest("a lighthouse", seed=1234, **SMALL))
    assert decoded_png_size(result.png) == (64, 48)
    assert (result.width, result.height) == (64, 48)
    assert result.seed == 1234
    assert result.info["all_seeds"] == [1234]
    assert result.model == "v1-5-pruned-emaonly"


async def test_random_seed_comes_back_as_the_seed_the_server_chose(emulator: EmulatorFactory,
                                                                   client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111").url, client)
    result = await adapter.generate_image(ImageRequest("fog", seed=-1, **SMALL))
    assert isinstance(result.seed, int)
    assert result.seed >= 0


async def test_progress_is_reported_increasing_to_one(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111", pace=Pace(tokens_per_s=60)).url, client)
    seen: list[ImageProgress] = []

    async def record(progress: ImageProgress) -> None:
        seen.append(progress)

    await adapter.generate_image(ImageRequest("dunes", width=64, height=64, steps=16), record)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert any(0.0 < f < 1.0 for f in fractions), fractions
    assert any(p.steps == 16 and p.step is not None for p in seen)


async def test_checkpoints_listed_with_current_loaded_and_switch_moves_it(emulator: EmulatorFactory,
                                                                          client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111").url, client)
    models = await adapter.list_models()
    assert {m.kind for m in models} == {"image"}
    assert [m.name for m in models if m.loaded] == ["v1-5-pruned-emaonly.safetensors [6ce0161689]"]

    await adapter.switch_checkpoint("sd_xl_base_1.0.safetensors [31e35c80fc]")

    assert [m.name for m in await adapter.list_models() if m.loaded] == ["sd_xl_base_1.0.safetensors [31e35c80fc]"]
    result = await adapter.generate_image(ImageRequest("a tree", **SMALL))
    assert result.model == "sd_xl_base_1.0"
    assert (await probe_health(adapter, HANG_S)).models_loaded == ("sd_xl_base_1.0.safetensors [31e35c80fc]",)


async def test_switch_to_unknown_checkpoint_is_a_bad_request(emulator: EmulatorFactory,
                                                            client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111").url, client)
    with pytest.raises(BadRequestError, match="not found"):
        await adapter.switch_checkpoint("nope.safetensors")


async def test_per_request_model_overrides_without_switching(emulator: EmulatorFactory,
                                                             client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111").url, client)
    result = await adapter.generate_image(ImageRequest("x", model="dreamshaper_8", **SMALL))
    assert result.model == "dreamshaper_8"
    assert [m.name for m in await adapter.list_models() if m.loaded] == ["v1-5-pruned-emaonly.safetensors [6ce0161689]"]


async def test_samplers_and_unknown_sampler(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111").url, client)
    assert "Euler a" in await adapter.samplers()
    with pytest.raises(BadRequestError, match="Sampler not found"):
        await adapter.generate_image(ImageRequest("x", sampler="Nonexistent", **SMALL))


async def test_interrupt_stops_a_running_job_early(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    # 150 steps = 75 s, longer than the wait's hang bound: only the interrupt can end the job within it
    adapter = adapter_for(emulator("a1111", pace=Pace(tokens_per_s=2)).url, client, timeout_s=120)
    started = asyncio.Event()
    job = asyncio.create_task(adapter.generate_image(
        ImageRequest("long", width=64, height=64, steps=150), lambda p: started.set() if p.fraction > 0 else None))
    await bounded(started.wait(), what="the first step")
    await adapter.interrupt()
    result = await bounded(job, what="the interrupted job")
    assert decoded_png_size(result.png) == (64, 64)


async def test_health_reports_vram_and_current_checkpoint(emulator: EmulatorFactory,
                                                          client: httpx.AsyncClient) -> None:
    health = await probe_health(adapter_for(emulator("a1111").url, client), HANG_S)
    assert health.status == "up"
    assert health.vram_total_bytes == 24 * 1024**3
    assert health.vram_used_bytes is not None and 0 < health.vram_used_bytes < health.vram_total_bytes
    assert health.models_loaded == ("v1-5-pruned-emaonly.safetensors [6ce0161689]",)


async def test_health_is_down_not_raised_when_refused(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111", faults="refuse").url, client)
    assert (await probe_health(adapter, HANG_S)).status == "down"
    with pytest.raises(UnreachableError):
        await adapter.generate_image(ImageRequest("x", **SMALL))


async def test_basic_auth_from_user_pass_key(client: httpx.AsyncClient) -> None:
    plan = FaultPlan()
    app = build(plan=plan, pace=Pace(), seed=0, flavour="a1111", api_auth="ops:s3cret-pass")
    with EmulatorServer(app=app, plan=plan) as server:
        good = adapter_for(server.url, client, key="ops:s3cret-pass")
        assert (await good.generate_image(ImageRequest("x", **SMALL))).width == 64
        bad = adapter_for(server.url, client, key="ops:wrong")
        assert (await probe_health(bad, HANG_S)).status == "unauthorized"
        with pytest.raises(AuthFailedError, match="Incorrect username or password") as caught:
            await bad.list_models()
        assert "wrong" not in str(caught.value)


async def test_a_server_that_never_answers_is_a_stall(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    adapter = adapter_for(emulator("a1111", faults="stall_first:600").url, client, image_idle_s=1.0)
    with pytest.raises(ProviderTimeoutError, match="image_idle_s") as caught:  # not the 600 s stall
        await bounded(adapter.generate_image(ImageRequest("x", **SMALL)), what="the stall")
    assert caught.value.phase == "idle"


def test_png_check_rejects_non_png_and_truncated_images() -> None:
    with pytest.raises(ProtocolError, match="not a PNG"):
        png_dimensions(b"GIF89a" + b"\x00" * 40, "sd")
    whole = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 7, 5) + b"\x08\x02\x00\x00\x00"
    with pytest.raises(ProtocolError, match="truncated"):
        png_dimensions(whole, "sd")
    assert png_dimensions(whole + b"\x00\x00\x00\x00IEND\xaeB`\x82", "sd") == (7, 5)
