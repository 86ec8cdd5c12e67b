"""The Deck end to end over the emulator lab: routing with faults, ledger rows, catalog, operations, images."""

from __future__ import annotations

from pathlib import Path

import pytest

from providers.base import ChatRequest, ImageRequest, Message
from providers.deck import CatalogChanged, Deck, DeckEvent, RequestFinished
from providers.emulators.lab import Lab
from providers.errors import StreamBrokenError
from providers.router import RouteFailedError, Router
from providers.routing import Route, Target
from tests.waiting import wait_for_condition

HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=16)


async def test_chat_over_the_first_hop_writes_one_ledger_row(lab_deck: Deck) -> None:
    run = await lab_deck.chat("chat", HELLO)
    assert run.routed.served_by is not None
    assert run.routed.served_by.provider == "box-vllm"
    assert run.text
    assert lab_deck.ledger is not None
    rows = lab_deck.ledger.recent_requests(5)
    assert len(rows) == 1
    assert rows[0].provider == "box-vllm" and rows[0].status == "ok" and rows[0].alias == "chat"


@pytest.mark.parametrize("fault", ["refuse", "500", "503", "529", "429:30", "401", "402", "context"])
async def test_first_hop_failing_is_served_by_the_next_with_reasons(lab: Lab, lab_deck: Deck, fault: str) -> None:
    lab.set_faults("box-vllm", fault)
    run = await lab_deck.chat("chat", HELLO)
    assert run.routed.served_by is not None
    assert run.routed.served_by.provider == "local-ollama"
    first = run.routed.attempts[0]
    assert first.provider == "box-vllm"
    assert first.outcome in ("error", "broken")
    assert first.error_kind is not None


async def test_bad_request_is_not_retried_elsewhere(lab_deck: Deck) -> None:
    no_messages = ChatRequest(model="", messages=(), max_tokens=16)  # every OpenAI-style server answers 400
    with pytest.raises(RouteFailedError) as info:
        await lab_deck.chat("chat", no_messages)
    assert info.value.cause is not None
    assert info.value.cause.kind == "bad_request"
    assert [(a.provider, a.outcome) for a in info.value.attempts if a.outcome != "skipped"] == [("box-vllm", "error")]


async def test_a_model_missing_on_one_hop_falls_back_to_the_next(lab_deck: Deck) -> None:
    router = Router(lab_deck.adapters, [Route("r", (Target("cloud", "no-such-model"),
                                                    Target("local-ollama", "llama3.2:1b")))])
    result = await router.chat("r", HELLO)
    assert result.served_by == Target("local-ollama", "llama3.2:1b") and result.text
    first = result.attempts[0]
    assert (first.provider, first.outcome, first.error_kind) == ("cloud", "error", "not_found")
    assert router.breakers.get("cloud", "no-such-model").state == "closed", "a missing model says nothing of health"
    with pytest.raises(RouteFailedError) as info:
        await lab_deck.chat("cloud/no-such-model", HELLO)
    assert info.value.cause is not None and info.value.cause.kind == "not_found"


async def test_all_local_hops_down_falls_back_to_cloud_and_costs_money(lab: Lab, lab_deck: Deck) -> None:
    lab.set_faults("box-vllm", "refuse")
    lab.set_faults("local-ollama", "503")
    run = await lab_deck.chat("chat", HELLO)
    assert run.routed.served_by is not None
    assert run.routed.served_by.provider == "cloud"
    assert [a.via for a in run.routed.attempts if a.outcome == "ok"] == ["cloud-chat"]
    assert run.cost_usd > 0


async def test_cut_stream_marks_the_row_and_keeps_the_partial(lab: Lab, lab_deck: Deck) -> None:
    lab.set_faults("box-vllm", "cut")
    with pytest.raises(StreamBrokenError) as info:
        await lab_deck.chat("chat", HELLO)
    assert info.value.partial
    assert lab_deck.ledger is not None
    row = lab_deck.ledger.recent_requests(1)[0]
    assert row.status == "cut"


async def test_events_reach_subscribers(lab_deck: Deck) -> None:
    seen: list[DeckEvent] = []
    lab_deck.subscribe(seen.append)
    await lab_deck.chat("chat", HELLO)
    await lab_deck.unload("local-ollama", "llama3.2:1b")
    assert any(isinstance(e, RequestFinished) for e in seen)
    assert any(isinstance(e, CatalogChanged) and e.provider == "local-ollama" for e in seen)


async def test_catalog_spans_providers_with_prices(lab_deck: Deck) -> None:
    catalog = await lab_deck.catalog()
    providers = {entry.model.provider for entry in catalog.entries}
    assert {"local-ollama", "box-vllm", "cloud", "claude", "sd"} <= providers
    mini = next(e for e in catalog.entries if e.model.provider == "cloud" and e.model.name == "gpt-4o-mini")
    assert mini.input_usd_per_mtok is not None and mini.input_usd_per_mtok > 0
    local = next(e for e in catalog.entries if e.model.provider == "local-ollama")
    assert local.input_usd_per_mtok == 0


async def test_monitor_marks_a_refusing_provider_down_and_routes_skip_it(lab: Lab, lab_deck: Deck) -> None:
    lab.set_faults("box-vllm", "refuse")
    lab_deck.monitor.probe_now()
    await wait_for_condition(lambda: lab_deck.monitor.status("box-vllm") == "down",
                             what="box-vllm down")
    plan = lab_deck.explain("chat")
    assert plan[0].state == "skipped" and "down" in plan[0].reason


async def test_image_is_saved_with_sidecar_and_recorded(lab_deck: Deck, tmp_path: Path) -> None:
    saved = await lab_deck.generate_image("sd", ImageRequest(prompt="a red cube", width=64, height=64, steps=3))
    assert saved.path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert saved.sidecar.exists()
    assert saved.path.is_relative_to(lab_deck.data_dir)
    assert lab_deck.ledger is not None
    assert lab_deck.ledger.recent_images(1)[0].path == str(saved.path)


async def test_a_chat_stopped_by_the_operator_is_recorded_as_cancelled(lab: Lab, lab_deck: Deck) -> None:
    lab.set_faults("box-vllm", "stall_mid:600")
    async with lab_deck.chat_stream("chat", HELLO) as run:
        async for _ in run:
            break  # the operator stops it after the first chunk
    assert run.cancelled
    assert lab_deck.ledger is not None
    assert lab_deck.ledger.recent_requests(1)[0].status == "cancelled"


async def test_openrouter_live_prices_replace_the_bundled_table(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from config.schema import DeckConfig
    from providers.base import Usage
    from tests.providers.openai_stub_server import Canned, serve

    models = {"data": [{"id": "openai/gpt-4o-mini", "context_length": 128000,
                        "pricing": {"prompt": "0.000001", "completion": "0.000002"}}]}
    monkeypatch.setenv("OR_KEY", "test-openrouter-key")
    with serve({"GET /api/v1/models": Canned(json.dumps(models).encode())}) as server:
        config = DeckConfig.model_validate({"providers": [
            {"name": "or", "kind": "openrouter", "base_url": server.url, "api_key": "env:OR_KEY"}]})
        deck = Deck(config, tmp_path / "data")
        await deck.start(monitor=False)
        try:
            usage = Usage(prompt_tokens=1000, completion_tokens=1000)
            bundled = deck.cost_of("or", "openai/gpt-4o-mini", usage)
            catalog = await deck.catalog("or")
            live = deck.cost_of("or", "openai/gpt-4o-mini", usage)
        finally:
            await deck.stop()
    assert catalog.entries[0].input_usd_per_mtok == pytest.approx(1.0)
    assert live == pytest.approx(0.003)
    assert bundled != pytest.approx(live)


async def test_monitor_feeds_the_breakers_down_opens_and_up_half_opens(lab: Lab, lab_deck: Deck) -> None:
    await lab_deck.chat("chat", HELLO)  # the breaker for box-vllm's model now exists
    breaker = lab_deck.router.breakers.get("box-vllm", "meta-llama/Llama-3.1-8B-Instruct")
    await wait_for_condition(lambda: lab_deck.monitor.status("box-vllm") == "up",
                             what="box-vllm up")
    lab.set_faults("box-vllm", "refuse")
    lab_deck.monitor.probe_now("box-vllm")
    await wait_for_condition(lambda: breaker.state == "open", what="the breaker open")
    assert breaker.reason.startswith("health probe:")
    lab.set_faults("box-vllm", "")
    lab_deck.monitor.probe_now("box-vllm")
    await wait_for_condition(lambda: lab_deck.monitor.status("box-vllm") == "up",
                             what="box-vllm up")
    assert breaker.current(lab_deck.router.clock()) == "half_open"
    run = await lab_deck.chat("chat", HELLO)
    assert run.routed.served_by is not None and run.routed.served_by.provider == "box-vllm"
    assert breaker.state == "closed"
