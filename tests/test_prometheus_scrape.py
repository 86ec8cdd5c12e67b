"""A real Prometheus scrapes the endpoint: a Deck over loopback emulators serves /metrics in this process, known
traffic goes through it, and Prometheus (its own instance, on free loopback ports, never the system's) must come to
answer its query API with the exact counts. Skipped only when the `prometheus` binary is not installed."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from config.schema import DeckConfig
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.metrics_server import MetricsServer, metrics_endpoint
from providers.monitor import MonitorPolicy
from providers.router import RouteFailedError
from tests.conftest import EmulatorFactory
from tests.test_grafana_dashboard import load_dashboard, panels
from tests.waiting import HANG_S, wait_for_condition


def _prometheus() -> str | None:
    found = shutil.which("prometheus")
    if found is None and Path("/usr/bin/prometheus").is_file():
        found = "/usr/bin/prometheus"
    return found


PROMETHEUS = _prometheus()
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="the `prometheus` binary is not installed (Debian "
                                "package `prometheus`; .ci/run installs it when it can)")

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=8)
QUERY_PAUSE_S = 0.25
"""Between two rounds of queries while Prometheus has not scraped yet (it scrapes every second)."""
GRAFANA_VARIABLES = {"$provider": ".*", "$__rate_interval": "1m", "$__range": "1h"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def deck(emulator: EmulatorFactory, tmp_path: Path) -> AsyncIterator[Deck]:
    url = emulator("vllm").url
    config = DeckConfig.model_validate({
        "providers": [{"name": "box", "kind": "vllm", "base_url": url, "host": "gpu1"},
                      {"name": "bad", "kind": "vllm", "base_url": url, "headers": {"x-emulator-fault": "context"}}],
        "routes": [{"alias": "chat", "targets": [{"provider": "box", "model": MODEL}]},
                   {"alias": "broken", "retries": 0, "targets": [{"provider": "bad", "model": MODEL}]}],
        "prices": [{"model": MODEL, "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}],
    })
    started = Deck(config, tmp_path / "data", monitor_policy=MonitorPolicy(interval_s=0.5, probe_timeout_s=10.0))
    await started.start()
    yield started
    await started.stop()


@pytest.fixture
async def exporter(deck: Deck) -> AsyncIterator[MetricsServer]:
    async with metrics_endpoint(deck, "127.0.0.1", 0) as server:
        yield server


@pytest.fixture
def prometheus(exporter: MetricsServer, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """Prometheus scraping the exporter every second: (its base URL, its process, its log file)."""
    assert PROMETHEUS is not None
    host, port = exporter.address
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "llmdeck", "static_configs": [{"targets": [f"{host}:{port}"]}]}],
    }), encoding="utf-8")
    web = f"127.0.0.1:{free_port()}"
    log = tmp_path / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                    f"--web.listen-address={web}"], stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        yield f"http://{web}", process, log
    finally:
        process.terminate()
        try:
            process.wait(HANG_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(HANG_S)


async def query(client: httpx.AsyncClient, base: str, promql: str) -> list[float]:
    """The values of an instant query, [] while Prometheus is not up or has no such series yet."""
    with contextlib.suppress(httpx.TransportError):
        reply = await client.get(f"{base}/api/v1/query", params={"query": promql})
        if reply.status_code == 200:
            return [float(series["value"][1]) for series in reply.json()["data"]["result"]]
    return []


async def test_prometheus_scrapes_the_exact_counts(deck: Deck,
                                                   prometheus: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    runs = [await deck.chat("chat", HELLO) for _ in range(3)]
    with pytest.raises(RouteFailedError):
        await deck.chat("broken", HELLO)
    cost = 0.0
    for run in runs:
        cost += run.cost_usd
    assert cost > 0
    expected = {
        'up{job="llmdeck"}': [1.0],
        'llm_requests_total{provider="box",route="chat",outcome="ok",model="' + MODEL + '"}': [3.0],
        'sum(llm_requests_total)': [4.0],
        'llm_errors_total{provider="bad",error_class="ContextTooLongError"}': [1.0],
        'llm_request_duration_seconds_count{provider="box"}': [3.0],
        'llm_cost_total{provider="box",kind="vllm",host="gpu1"}': [cost],
        'llm_provider_up{provider="box"}': [1.0],
    }
    base, process, log = prometheus
    answers: dict[str, list[float]] = {}

    async def ask() -> None:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        async with httpx.AsyncClient(timeout=HANG_S) as client:
            for promql in expected:
                answers[promql] = await query(client, base, promql)
        if answers != expected:
            await asyncio.sleep(QUERY_PAUSE_S)

    try:
        await wait_for_condition(lambda: answers == expected, pause=ask, what="prometheus to answer the counts")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answers: {answers}; expected: {expected}") from None


def dashboard_queries() -> list[str]:
    """Every PromQL query of contrib/grafana/llmdeck.json, its Grafana variables filled in."""
    queries = []
    for panel in panels(load_dashboard()):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, filled in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, filled)
            queries.append(expr)
    return queries


async def test_prometheus_accepts_every_query_of_the_dashboard(
        deck: Deck, prometheus: tuple[str, subprocess.Popen[bytes], Path]) -> None:
    await deck.chat("chat", HELLO)
    base, process, log = prometheus
    scraped: list[float] = []

    async def ask() -> None:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited with {process.returncode}: {log.read_text()[-2000:]}")
        async with httpx.AsyncClient(timeout=HANG_S) as client:
            scraped[:] = await query(client, base, 'sum(llm_requests_total)')
        if not scraped:
            await asyncio.sleep(QUERY_PAUSE_S)

    await wait_for_condition(lambda: scraped == [1.0], pause=ask, what="a first scrape with the request")
    async with httpx.AsyncClient(timeout=HANG_S) as client:
        for promql in dashboard_queries():
            reply = await client.get(f"{base}/api/v1/query", params={"query": promql})
            assert reply.status_code == 200 and reply.json()["status"] == "success", (promql, reply.text)
        answered = await query(client, base, 'sum(llm_requests_total{provider=~".*"})')
    assert answered == [1.0]
