"""The /metrics endpoint of a Deck over loopback emulators: known traffic, a real HTTP scrape, the text parsed with
prometheus_client's own parser, exact values; model names folded and cleaned; counters that survive a reload."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from config.schema import DeckConfig
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.emulators.faults import FaultPlan
from providers.emulators.server import EmulatorServer
from providers.metrics_server import HEAD_LIMIT, MetricsServer, metrics_endpoint
from providers.monitor import MonitorPolicy
from providers.request_totals import LABEL_CHARS, MODEL_LABELS_PER_PROVIDER, OTHER
from providers.router import RouteFailedError
from tests.conftest import EmulatorFactory
from tests.providers.gpu_standins import DCGM_METRICS, MIB
from tests.waiting import HANG_S, wait_for_condition

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "METRICS.md"
HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=8)
Sample = tuple[str, frozenset[tuple[str, str]]]
HAS_PROC_STAT = Path("/proc/stat").exists()


def samples(text: str) -> dict[Sample, float]:
    """(sample name, its labels) → value of every sample of a scrape."""
    found: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, frozenset(sample.labels.items())] = sample.value
    return found


def value(scraped: dict[Sample, float], name: str, **labels: str) -> float:
    """The one sample `name` whose labels include `labels`; fails when there is none or more than one."""
    matching = [v for (n, have), v in scraped.items() if n == name and set(labels.items()) <= have]
    assert len(matching) == 1, f"{name}{labels}: {len(matching)} samples"
    return matching[0]


def total(scraped: dict[Sample, float], name: str, **labels: str) -> float:
    return sum(v for (n, have), v in scraped.items() if n == name and set(labels.items()) <= have)


def label_values(scraped: dict[Sample, float], name: str, label: str, **labels: str) -> set[str]:
    return {dict(have)[label] for (n, have) in scraped if n == name and set(labels.items()) <= have}


async def scrape(server: MetricsServer) -> dict[Sample, float]:
    async with httpx.AsyncClient(timeout=HANG_S) as client:
        reply = await client.get(server.url)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(reply.text)


def lab_config(vllm_url: str, ollama_url: str, *, timeout_s: float = 20.0) -> DeckConfig:
    """`box` serves; `bad` is the same server asked with a fault header that fails every chat with the backend's
    context-length error (its health probe answers); `sick` gets a 500 for everything, its probes too."""
    return DeckConfig.model_validate({
        "providers": [
            {"name": "box", "kind": "vllm", "base_url": vllm_url, "host": "gpu1", "timeout_s": timeout_s},
            {"name": "bad", "kind": "vllm", "base_url": vllm_url, "host": "gpu1",
             "headers": {"x-emulator-fault": "context"}},
            {"name": "sick", "kind": "vllm", "base_url": vllm_url, "headers": {"x-emulator-fault": "500"}},
            {"name": "ol", "kind": "ollama", "base_url": ollama_url, "host": "desk"},
        ],
        "routes": [{"alias": "chat", "targets": [{"provider": "box", "model": MODEL}]},
                   {"alias": "broken", "retries": 0, "targets": [{"provider": "bad", "model": MODEL}]}],
        "prices": [{"model": MODEL, "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}],
        "budgets": [{"provider": "box", "usd_per_day": 5.0, "usd_per_month": 50.0}],
        "hosts": [{"name": "gpu1", "gpus": "none"}, {"name": "desk", "gpus": "none"}],  # no GPUs, on any machine
    })


@pytest.fixture
def servers(emulator: EmulatorFactory) -> dict[str, str]:
    return {"vllm": emulator("vllm").url, "ollama": emulator("ollama").url}


@pytest.fixture
async def deck(servers: dict[str, str], tmp_path: Path) -> AsyncIterator[Deck]:
    started = Deck(lab_config(servers["vllm"], servers["ollama"]), tmp_path / "data",
                   monitor_policy=MonitorPolicy(interval_s=0.3, fast_interval_s=0.2, probe_timeout_s=10.0))
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
async def endpoint(deck: Deck) -> AsyncIterator[MetricsServer]:
    async with metrics_endpoint(deck, "127.0.0.1", 0) as server:
        yield server


async def probed(deck: Deck) -> None:
    await wait_for_condition(lambda: all(deck.health_of(name) is not None for name in ("box", "bad", "sick", "ol")),
                             what="a first probe of every provider")


async def test_known_traffic_scrapes_to_exact_counts_cost_and_error_classes(deck: Deck,
                                                                            endpoint: MetricsServer) -> None:
    runs = [await deck.chat("chat", HELLO) for _ in range(3)]
    with pytest.raises(RouteFailedError):
        await deck.chat("broken", HELLO)
    await probed(deck)
    scraped = await scrape(endpoint)

    box = {"provider": "box", "kind": "vllm", "host": "gpu1", "model": MODEL}
    bad = {"provider": "bad", "kind": "vllm", "host": "gpu1", "model": MODEL}
    assert value(scraped, "llm_requests_total", **box, route="chat", outcome="ok") == 3
    assert value(scraped, "llm_requests_total", **bad, route="broken", outcome="error") == 1
    assert total(scraped, "llm_requests_total") == 4
    assert value(scraped, "llm_errors_total", **bad, error_class="ContextTooLongError") == 1
    assert total(scraped, "llm_errors_total") == 1
    cost = 0.0
    for run in runs:
        cost += run.cost_usd
    assert cost > 0
    assert value(scraped, "llm_cost_total", **box) == cost
    assert value(scraped, "llm_cost_total", **bad) == 0
    completion = sum(run.routed.usage.completion_tokens for run in runs if run.routed.usage)
    assert completion > 0
    assert value(scraped, "llm_completion_tokens_total", **box) == completion
    assert value(scraped, "llm_request_duration_seconds_count", **box) == 3
    assert value(scraped, "llm_request_duration_seconds_bucket", **box, le="+Inf") == 3
    assert value(scraped, "llm_request_duration_seconds_count", **bad) == 0  # durations of successful calls only
    assert value(scraped, "llm_time_to_first_token_seconds_count", **box) == 3
    assert value(scraped, "llm_tokens_per_second", **box) > 0
    assert value(scraped, "llm_breaker_state", **box) == 0
    assert value(scraped, "llm_budget_spent_usd", provider="box", period="day") == cost
    assert value(scraped, "llm_budget_spent_usd", provider="box", period="month") == cost
    assert value(scraped, "llm_budget_limit_usd", provider="box", period="day") == 5.0
    assert value(scraped, "llm_budget_limit_usd", provider="box", period="month") == 50.0
    assert value(scraped, "llm_provider_up", provider="box", kind="vllm", host="gpu1") == 1
    assert value(scraped, "llm_provider_up", provider="bad", kind="vllm", host="gpu1") == 1
    assert value(scraped, "llm_provider_up", provider="sick", kind="vllm", host="") == 0
    assert value(scraped, "llm_provider_up", provider="ol", kind="ollama", host="desk") == 1
    assert value(scraped, "llm_requests_in_flight", provider="box") == 0
    assert value(scraped, "llm_active_models", provider="ol") == 0
    assert not [name for name, _ in scraped if name.startswith("llm_gpu_")], "no GPU readings: no GPU series"
    if HAS_PROC_STAT:
        assert 0 <= value(scraped, "llm_cpu_usage_percent") <= 100


async def test_hostile_model_names_are_folded_bounded_and_clean(deck: Deck, endpoint: MetricsServer) -> None:
    await deck.chat("chat", HELLO)
    asked = 40
    for number in range(asked):  # a PROVIDER/MODEL target names any model: 404 from the server, counted
        hostile = f"m{number}\x1b[31m\"}}\n{{le=\"0\"\\ \x07{'x' * 300}"
        with pytest.raises(RouteFailedError):
            await deck.chat(f"box/{hostile}", HELLO)
    scraped = await scrape(endpoint)

    models = label_values(scraped, "llm_requests_total", "model", provider="box")
    assert len(models) == MODEL_LABELS_PER_PROVIDER + 1  # the first names seen, and `other` for the rest
    assert MODEL in models and OTHER in models
    for model in models:
        assert len(model) <= LABEL_CHARS
        assert not re.search(r"[\x00-\x1f\x7f]", model), repr(model)
    assert total(scraped, "llm_requests_total", provider="box") == asked + 1
    assert total(scraped, "llm_errors_total", provider="box", error_class="NotFoundError") == asked
    assert label_values(scraped, "llm_requests_total", "route", provider="box", outcome="error") == {"direct"}
    folded = asked - (MODEL_LABELS_PER_PROVIDER - 1)  # the served model took the first label
    assert value(scraped, "llm_requests_total", provider="box", model=OTHER) == folded


async def test_counters_never_go_back_across_a_reload(deck: Deck, endpoint: MetricsServer,
                                                      servers: dict[str, str]) -> None:
    for _ in range(2):
        await deck.chat("chat", HELLO)
    with pytest.raises(RouteFailedError):
        await deck.chat("broken", HELLO)
    before = await scrape(endpoint)

    changed = lab_config(servers["vllm"], servers["ollama"], timeout_s=25.0)  # `box` is rebuilt
    changed = changed.model_copy(update={"providers": tuple(p for p in changed.providers if p.name != "bad"),
                                         "routes": changed.routes[:1]})
    change = await deck.reload(changed)
    assert "box" in change.providers_renewed and "bad" in change.providers_removed
    after = await scrape(endpoint)

    counters = {key: v for key, v in before.items() if key[0].endswith(("_total", "_count", "_sum", "_bucket"))}
    assert counters
    for key, was in counters.items():
        assert after.get(key) == was, key  # the same series, neither reset nor gone (`bad` keeps its labels)
    await deck.chat("chat", HELLO)
    later = await scrape(endpoint)
    box = {"provider": "box", "model": MODEL, "route": "chat", "outcome": "ok"}
    assert value(later, "llm_requests_total", **box) == value(before, "llm_requests_total", **box) + 1
    assert value(later, "llm_cost_total", provider="box") > value(before, "llm_cost_total", provider="box")


async def test_a_model_a_probe_finds_newly_loaded_counts_as_a_load(deck: Deck, endpoint: MetricsServer) -> None:
    await probed(deck)  # the first answer is the baseline: what was loaded before is no load of this run
    await deck.load("ol", "llama3.2:1b")
    deck.probe_now("ol")
    await wait_for_condition(lambda: (health := deck.health_of("ol")) is not None and health.models_loaded,
                             what="a probe that sees the model loaded")
    scraped = await scrape(endpoint)
    assert value(scraped, "llm_model_loads_total", provider="ol", model="llama3.2:1b") == 1
    assert value(scraped, "llm_active_models", provider="ol") == 1
    deck.probe_now("ol")
    probes = deck.monitor.probe_counts["ol"]
    await wait_for_condition(lambda: deck.monitor.probe_counts["ol"] > probes, what="one more probe")
    again = await scrape(endpoint)
    assert value(again, "llm_model_loads_total", provider="ol", model="llama3.2:1b") == 1, "still loaded: no load"


@pytest.fixture
def dcgm() -> Iterator[EmulatorServer]:
    """A DCGM exporter on loopback, its /metrics as dcgm-exporter prints it (two L4s)."""
    app = Starlette(routes=[Route("/metrics", lambda _: PlainTextResponse(DCGM_METRICS))])
    with EmulatorServer(app=app, plan=FaultPlan()) as server:
        yield server


async def test_gpu_readings_are_exported_as_the_deck_last_read_them(dcgm: EmulatorServer, tmp_path: Path) -> None:
    config = DeckConfig.model_validate({"hosts": [{"name": "box3", "gpus": "dcgm", "dcgm_url": f"{dcgm.url}/metrics"},
                                                  {"name": "off", "gpus": "none"}]})
    deck = Deck(config, tmp_path / "data")
    await deck.start()  # the GPU poller runs while the health monitor does
    try:
        await wait_for_condition(lambda: "box3" in deck.gpus(), what="the Deck's first GPU reading")
        async with metrics_endpoint(deck, "127.0.0.1", 0) as server:
            scraped = await scrape(server)
    finally:
        await deck.stop()
    gpus = deck.gpus()["box3"].gpus
    assert value(scraped, "llm_gpu_memory_usage_bytes", host="box3", gpu="0") == 21000 * MIB
    assert value(scraped, "llm_gpu_memory_usage_bytes", host="box3", gpu="1") == 0
    assert value(scraped, "llm_gpu_memory_total_bytes", host="box3", gpu="0") == gpus[0].memory_total_bytes
    assert value(scraped, "llm_gpu_utilization_percent", host="box3", gpu="0") == 100
    assert value(scraped, "llm_gpu_utilization_percent", host="box3", gpu="1") == 3
    assert label_values(scraped, "llm_gpu_memory_usage_bytes", "host") == {"box3"}, "a host without GPUs: none"


async def raw(server: MetricsServer, request: bytes) -> bytes:
    """Send `request` as is; everything the server answers before it closes."""
    host, port = server.address
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(HANG_S):
            return await reader.read()
    finally:
        writer.close()


async def test_the_server_answers_only_metrics_and_refuses_a_huge_head(endpoint: MetricsServer) -> None:
    assert (await raw(endpoint, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
    assert (await raw(endpoint, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(b"HTTP/1.1 405 ")
    assert (await raw(endpoint, b"nonsense\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
    head = await raw(endpoint, b"HEAD /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n"), "HEAD: headers, no body"
    huge = b"GET /metrics HTTP/1.1\r\nX-Fill: " + b"a" * (HEAD_LIMIT * 4) + b"\r\n\r\n"
    assert await raw(endpoint, huge) == b"", "a head past the limit is dropped unanswered"


async def test_an_address_in_use_is_an_oserror_and_stop_ends_open_connections(deck: Deck,
                                                                             endpoint: MetricsServer) -> None:
    host, port = endpoint.address
    with pytest.raises(OSError):
        async with metrics_endpoint(deck, host, port):
            pass
    reader, writer = await asyncio.open_connection(host, port)  # connected, never sends its request
    await wait_for_condition(lambda: endpoint._handlers, what="the connection accepted")
    await asyncio.wait_for(endpoint.stop(), HANG_S)
    async with asyncio.timeout(HANG_S):
        assert await reader.read() == b""
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection(host, port)


async def test_the_docs_list_exactly_the_metrics_the_exporter_writes(endpoint: MetricsServer) -> None:
    async with httpx.AsyncClient(timeout=HANG_S) as client:
        text = (await client.get(endpoint.url)).text
    written = {family.name + ("_total" if family.type == "counter" else "")
               for family in text_string_to_metric_families(text)}
    documented = set(re.findall(r"^\| `(llm_\w+)` \|", METRICS_DOC.read_text(encoding="utf-8"), re.MULTILINE))
    assert written == documented
