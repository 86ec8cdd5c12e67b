"""Values on the console's screens read as words, over the emulator lab: a provider's details, the explain plan
of a route, the fallbacks of a turn and the pull queue at 80 columns."""

from __future__ import annotations

import math
import re

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from console.screens.provider_details import LOADED_SHOWN, ProviderDetailsScreen, health_lines
from console.screens.pull_queue import PullQueue
from console.screens.route_plan import RoutePlanScreen, plan_text
from providers.base import ChatRequest, Health, Message
from providers.deck import Deck
from providers.display import MISSING, milliseconds
from providers.emulators.lab import Lab
from tests.console.shell_harness import screen_text
from tests.waiting import wait_for_condition

VLLM = "box-vllm"
VLLM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
HELLO = ChatRequest(model="", messages=(Message("user", "Say hello"),), max_tokens=8)
RAW_FLOAT = re.compile(r"\d\.\d{3,}")
"""A float written with more than 2 decimals (`53.65368700017825`)."""
PYTHON_REPR = re.compile(r"[(\[]['\"]|['\"][)\]]")
"""The brackets and quotes of a tuple or list repr (`('meta-llama/…', 'sql-lora')`)."""


class ScreenApp(App[None]):
    """Shows one screen over an empty app, as the console pushes its modal screens."""

    def __init__(self, screen: Screen[None]) -> None:
        super().__init__()
        self.shown = screen

    def on_mount(self) -> None:
        self.push_screen(self.shown)


class QueueApp(App[None]):
    def __init__(self, deck: Deck) -> None:
        super().__init__()
        self.deck = deck

    def compose(self) -> ComposeResult:
        yield PullQueue(self.deck)


async def shown_text(screen: Screen[None], body_id: str) -> str:
    app = ScreenApp(screen)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_condition(lambda: app.screen is screen, what="the screen", pause=pilot.pause)
        return str(screen.query_one(body_id, Static).render())


def health_up(deck: Deck, *providers: str) -> bool:
    return all((health := deck.health_of(name)) is not None and health.status == "up" for name in providers)


def verdicts(plan: str) -> list[str]:
    """The line under each hop of an explain plan: its state and why."""
    return [line.strip() for line in plan.splitlines() if line.startswith("      ")]


async def test_provider_details_of_a_lab_vllm_show_no_raw_float_and_no_tuple(lab_deck: Deck) -> None:
    await wait_for_condition(lambda: health_up(lab_deck, VLLM), what="box-vllm probed up")
    await lab_deck.chat(f"{VLLM}/{VLLM_MODEL}", HELLO)
    health = lab_deck.health_of(VLLM)
    assert health is not None and health.latency_ms is not None and health.metrics
    assert 1 < len(health.models_loaded) <= LOADED_SHOWN, "the emulator serves a model and a LoRA"

    body = await shown_text(ProviderDetailsScreen(lab_deck, VLLM, [53.65368700017825, None, 12.5]), "#details-body")

    assert not RAW_FLOAT.findall(body), body
    assert not PYTHON_REPR.search(body), body
    assert re.search(rf"\n  models loaded +{re.escape(', '.join(health.models_loaded))}\n", body), body
    assert re.search(rf"\n  latency +{re.escape(milliseconds(health.latency_ms))}\n", body), body
    assert re.search(r"\n  metrics\.kv_cache_usage +(\d+%|<1%)\n", body), body
    assert "last 1 min: 1 request, 0 errors (0%)" in body, body


def test_hostile_probe_values_are_written_as_missing_or_bounded() -> None:
    health = Health("up", latency_ms=math.nan, models_loaded=tuple(f"m{i}" for i in range(LOADED_SHOWN + 40)),
                    vram_used_bytes=-1, vram_total_bytes=25_769_803_776,
                    metrics={"kv_cache_usage": math.inf, "ttft_p50_s": 0.053653687, "requests_running": 3.0,
                             "credits_remaining_usd": 3.14159, "generation_tokens_per_s": 41.66666, "odd": 1e300})
    shown = dict(health_lines(health))
    assert shown["latency"] == MISSING
    assert shown["models loaded"].endswith(", m19 and 40 more")
    assert (shown["VRAM used"], shown["VRAM total"]) == (MISSING, "24.0 GiB")
    assert shown["metrics.kv_cache_usage"] == MISSING
    assert shown["metrics.ttft_p50_s"] == "53.7 ms"
    assert shown["metrics.requests_running"] == "3"
    assert shown["metrics.credits_remaining_usd"] == "$3.14"
    assert shown["metrics.generation_tokens_per_s"] == "42 tok/s"
    assert shown["metrics.odd"] == "1e+300"


async def test_the_explain_plan_says_ready_once_and_a_skip_reason_flat(lab: Lab, lab_deck: Deck) -> None:
    await wait_for_condition(lambda: health_up(lab_deck, VLLM, "local-ollama"), what="both chat hops probed up")
    every_hop_up = verdicts(plan_text(lab_deck, "chat"))
    assert every_hop_up[:2] == ["ready: would serve now", "ready"]
    assert all(verdict.count("ready") == 1 for verdict in every_hop_up), every_hop_up

    lab.set_faults(VLLM, "refuse")
    lab_deck.monitor.probe_now()
    await wait_for_condition(lambda: lab_deck.monitor.status(VLLM) == "down", what="box-vllm down")
    body = await shown_text(RoutePlanScreen(lab_deck, "chat"), "#plan-body")
    assert body.startswith("chat: ordered, 1 retry, timeouts ttft 5 s, idle 10 s, total 1 min"), body
    assert verdicts(body)[:2] == ["skipped: unhealthy (down)", "ready: would serve now"]
    assert "((" not in body and "))" not in body

    run = await lab_deck.chat("chat", HELLO)
    assert run.summary is not None
    assert run.summary.fallbacks == (f"{VLLM}/{VLLM_MODEL} skipped: unhealthy (down)",)


async def test_a_cancelled_pull_reads_cancelled_whole_at_80_by_24(lab_deck: Deck) -> None:
    app = QueueApp(lab_deck)
    async with app.run_test(size=(80, 24)) as pilot:
        queue = app.query_one(PullQueue)
        running = queue.enqueue("local-ollama", "qwen2.5:0.5b")
        waiting = queue.enqueue("local-ollama", "tinyllama:1.1b")  # one pull at a time per provider: queued
        assert queue.selected is waiting and queue.cancel_selected() is waiting
        await wait_for_condition(lambda: running.finished, what="the first pull to end", pause=pilot.pause)
        await pilot.pause()
        rows = {job.model: line for line in screen_text(app).splitlines() for job in (running, waiting)
                if f"/{job.model} " in line}
    assert running.state == "done", running.status
    assert re.search(r"/tinyllama:1\.1b +cancelled +·{12} +cancelled before", rows[waiting.model]), rows
    assert re.search(r"/qwen2\.5:0\.5b +done +█{12} 100%", rows[running.model]), rows
