"""`Deck.reload`: a new config applied to a running deck over real emulators, with what must stay kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from config.schema import BudgetConfig, DeckConfig
from providers.base import ChatRequest, Message
from providers.deck import CatalogChanged, Deck, DeckEvent
from providers.deck_reload import config_change
from providers.emulators.lab import Lab
from providers.emulators.server import EmulatorServer
from providers.monitor import MonitorPolicy
from providers.router import UnknownTargetError
from tests.conftest import EmulatorFactory
from tests.waiting import bounded, wait_for_condition

HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=16)
OLLAMA_MODEL = "llama3.2:1b"
VLLM_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
LLAMACPP_MODEL = "qwen2.5-7b-instruct-q4_k_m"


def lab_config(servers: dict[str, EmulatorServer], routes: list[dict[str, Any]], **extra: Any) -> DeckConfig:
    """Providers named as their emulators' keys (`ollama`, `vllm`, `llamacpp`), over loopback."""
    providers = [{"name": name, "kind": name, "base_url": server.url, "timeout_s": 20}
                 for name, server in servers.items()]
    return DeckConfig.model_validate({"providers": providers, "routes": routes, **extra})


@pytest.fixture
def servers(emulator: EmulatorFactory) -> dict[str, EmulatorServer]:
    return {kind: emulator(kind) for kind in ("ollama", "vllm", "llamacpp")}


@pytest.fixture
async def deck(servers: dict[str, EmulatorServer], tmp_path: Path) -> AsyncIterator[Deck]:
    """ollama and vllm, with `chat` over vllm; llamacpp's emulator runs but is not configured yet."""
    config = lab_config({k: servers[k] for k in ("ollama", "vllm")},
                        [{"alias": "chat", "targets": [{"provider": "vllm", "model": VLLM_MODEL}]}])
    running = Deck(config, tmp_path / "data",
                   monitor_policy=MonitorPolicy(interval_s=0.5, fast_interval_s=0.2, probe_timeout_s=10.0))
    await running.start()
    yield running
    await running.stop()


def reloaded_config(servers: dict[str, EmulatorServer]) -> DeckConfig:
    """vllm removed, llamacpp added, `chat` now over ollama, a new alias `fast` over llamacpp."""
    return lab_config({k: servers[k] for k in ("ollama", "llamacpp")},
                      [{"alias": "chat", "targets": [{"provider": "ollama", "model": OLLAMA_MODEL}]},
                       {"alias": "fast", "targets": [{"provider": "llamacpp", "model": LLAMACPP_MODEL}]}])


async def test_reload_adds_removes_and_reroutes_while_a_chat_on_a_removed_provider_finishes(
        deck: Deck, servers: dict[str, EmulatorServer]) -> None:
    await wait_for_condition(lambda: deck.health_of("ollama") is not None and deck.health_of("vllm") is not None,
                             what="first probes")
    kept_adapter = deck.adapters["ollama"]
    events: list[DeckEvent] = []
    deck.subscribe(events.append)

    async with deck.chat_stream("chat", HELLO) as run:
        chunks = aiter(run)
        first = await bounded(anext(chunks), what="the first chunk from vllm")
        change = await deck.reload(reloaded_config(servers))  # vllm goes while its answer is still streaming
        rest = [chunk async for chunk in chunks]

    assert (change.providers_added, change.providers_removed, change.providers_replaced) == (("llamacpp",),
                                                                                              ("vllm",), ())
    assert (change.routes_added, change.routes_changed) == (("fast",), ("chat",))
    assert first.text and run.text == first.text + "".join(chunk.text for chunk in rest)
    assert run.error is None and run.routed.served_by is not None and run.routed.served_by.provider == "vllm"
    assert deck.ledger is not None
    row = deck.ledger.recent_requests(1)[0]
    assert (row.provider, row.status, row.alias) == ("vllm", "ok", "chat")

    # the new config is the running one: providers, routes, health schedule
    assert list(deck.providers) == ["ollama", "llamacpp"] and "vllm" not in deck.adapters
    assert deck.adapters["ollama"] is kept_adapter, "an unchanged provider keeps its adapter"
    await wait_for_condition(lambda: deck.health_of("llamacpp") is not None, what="the added provider probed")
    assert deck.health_of("llamacpp").status == "up"  # type: ignore[union-attr]
    assert deck.health_of("vllm") is None and "vllm" not in deck.monitor.probe_counts
    assert any(isinstance(e, CatalogChanged) and e.provider == "llamacpp" for e in events)
    served = await deck.chat("chat", HELLO)
    assert served.routed.served_by is not None and served.routed.served_by.provider == "ollama"
    fast = await deck.chat("fast", HELLO)
    assert fast.routed.served_by is not None and fast.routed.served_by.provider == "llamacpp"
    with pytest.raises(UnknownTargetError):
        deck.explain("vllm/" + VLLM_MODEL)
    assert len(deck.ledger.recent_requests(10)) == 3, "the ledger is the same one"


async def test_a_changed_provider_is_replaced_and_probed_afresh(deck: Deck, servers: dict[str, EmulatorServer]) -> None:
    await wait_for_condition(lambda: deck.health_of("vllm") is not None, what="first probe of vllm")
    old_adapter, kept_adapter = deck.adapters["vllm"], deck.adapters["ollama"]
    changed = deck.config.model_copy(update={"providers": tuple(
        p.model_copy(update={"timeout_s": 7.0}) if p.name == "vllm" else p for p in deck.config.providers)})
    change = await deck.reload(changed)
    assert change.providers_replaced == ("vllm",) and not change.providers_added and not change.providers_removed
    assert deck.adapters["vllm"] is not old_adapter and deck.adapters["ollama"] is kept_adapter
    assert deck.providers["vllm"].timeout_s == 7.0
    await wait_for_condition(lambda: deck.health_of("vllm") is not None, what="the replaced provider probed again")


async def test_reload_keeps_metrics_and_seeds_a_new_budget_from_the_ledger(lab: Lab, tmp_path: Path) -> None:
    unbudgeted = lab.config.model_copy(update={"budgets": ()})
    async with Deck(unbudgeted, tmp_path / "data") as earlier:  # an earlier session spent money on `cloud`
        spent = await earlier.chat("cloud/gpt-4o-mini", HELLO)
    assert spent.cost_usd > 0
    async with Deck(unbudgeted, tmp_path / "data") as deck:
        await deck.stop_probing()
        await deck.chat("chat", HELLO)
        latency = deck.request_stats().recent_latency("box-vllm")
        assert latency is not None and deck.spend.over_budget("cloud") is None
        tiny = BudgetConfig(provider="cloud", usd_per_month=spent.cost_usd / 2)
        change = await deck.reload(unbudgeted.model_copy(update={"budgets": (tiny,)}))
        assert change.other_live == ("budgets",) and not change.providers_renewed
        assert deck.request_stats().recent_latency("box-vllm") == latency, "metrics are kept"
        refused = deck.spend.over_budget("cloud")
        assert refused is not None and "this month" in refused, "the month's spend so far comes from the ledger"


def test_config_change_names_what_changed(servers: dict[str, EmulatorServer]) -> None:
    old = lab_config({k: servers[k] for k in ("ollama", "vllm")},
                     [{"alias": "chat", "targets": [{"provider": "vllm", "model": VLLM_MODEL}]}])
    new = reloaded_config(servers).model_copy(update={"ui": old.ui.model_copy(update={"theme": "nord"})})
    change = config_change(old, new)
    assert change.describe() == ("providers: +llamacpp −vllm; routes: +fast ~chat "
                                 "(ui take effect at the next start)")
    assert change.lines() == ["providers added: llamacpp", "providers removed: vllm", "routes added: fast",
                              "routes changed: chat", "ui changed, applied at the next start"]
    assert config_change(old, old).describe() == "nothing changed" and config_change(old, old).lines() == []
