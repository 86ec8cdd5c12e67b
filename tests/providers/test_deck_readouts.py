"""The Deck's door for the console, over the emulator lab: routes, load, breakers, health, money and history."""

from __future__ import annotations

from dataclasses import fields
from typing import get_args

import pytest

from providers.base import Capabilities, ChatRequest, Message
from providers.deck import Deck
from providers.deck_readouts import Capability
from providers.emulators.lab import Lab
from providers.router import UnknownTargetError
from tests.waiting import wait_for_condition

HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=16)


def test_capability_names_are_the_capabilities_fields() -> None:
    assert set(get_args(Capability)) == {f.name for f in fields(Capabilities)}


async def test_routes_and_able_providers_come_in_config_order(lab_deck: Deck) -> None:
    assert lab_deck.aliases() == ["chat", "cloud-chat", "fast", "cheap"]
    chat = lab_deck.route("chat")
    assert (chat.retries, chat.fallbacks, chat.timeouts.ttft_s) == (1, ("cloud-chat",), 5)
    with pytest.raises(UnknownTargetError, match="'nope'"):
        lab_deck.route("nope")
    able = lab_deck.providers_able()
    assert able[:3] == ["local-ollama", "box-vllm", "box-llamacpp"]
    images = lab_deck.providers_able("images")
    assert {"sd", "comfy"} <= set(images) and "box-vllm" not in images
    assert "local-ollama" in lab_deck.providers_able("pull") and "claude" not in lab_deck.providers_able("pull")


async def test_a_paid_chat_shows_in_spend_stats_and_history(lab_deck: Deck) -> None:
    assert lab_deck.spend_today() == 0
    run = await lab_deck.chat("cloud-chat", HELLO)
    assert run.routed.served_by is not None and run.routed.served_by.provider == "cloud"
    assert lab_deck.spend_today() > 0
    assert lab_deck.request_stats().summary("cloud", window_s=60).requests == 1
    assert lab_deck.in_flight() == 0
    history = lab_deck.history()
    assert history is not None and [row.alias for row in history.recent_requests(5)] == ["cloud-chat"]


async def test_a_probe_asked_for_shows_down_and_opens_the_providers_breaker(lab: Lab, lab_deck: Deck) -> None:
    await lab_deck.chat("chat", HELLO)  # box-vllm served: its model's breaker exists
    assert lab_deck.breaker_states("box-vllm") == {"meta-llama/Llama-3.1-8B-Instruct": ("closed", 0.0, "")}
    lab.set_faults("box-vllm", "refuse")
    lab_deck.probe_now("box-vllm")
    await wait_for_condition(lambda: lab_deck.breaker_state("box-vllm").state == "open", what="the breaker open")
    health = lab_deck.health_of("box-vllm")
    assert health is not None and health.status == "down"
    assert lab_deck.last_health()["box-vllm"] == health
    assert lab_deck.breaker_state("box-vllm").reason.startswith("health probe:")
    assert lab_deck.breaker_state("local-ollama").state == "closed"
