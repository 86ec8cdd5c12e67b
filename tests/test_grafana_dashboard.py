"""contrib/grafana/llmdeck.json: a Grafana dashboard that parses, has what Grafana needs to import it, lays its panels
out without overlap, and asks Prometheus only for metrics the exporter really writes (taken from a live scrape)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.schema import DeckConfig
from providers.deck import Deck
from providers.metrics_server import metrics_endpoint
from tests.conftest import EmulatorFactory
from tests.waiting import HANG_S

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "contrib" / "grafana" / "llmdeck.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                   "summary": ("", "_sum", "_count"), "gauge": ("",), "untyped": ("",)}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}


def load_dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once strings, label matchers, ranges, grouping
    label lists, variables, numbers, function calls and keywords are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    text = re.sub(r"(?<![\w:])\d[\d.]*(?:[eE][+-]?\d+)?", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        follows = text[match.end():].lstrip()
        if follows.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue  # a function or an aggregation, or a keyword
        names.add(match.group())
    return names


def test_metric_names_reads_what_promql_names() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, provider) (rate(llm_x_bucket{provider=~"$provider",a="b{c}"}'
            '[$__rate_interval]))) / on (provider) group_left (model) llm_y * 3600 > bool 1e3')
    assert metric_names(expr) == {"llm_x_bucket", "llm_y"}


@pytest.fixture
async def exported(emulator: EmulatorFactory, tmp_path: Path) -> set[str]:
    """The series names a live exporter writes (its families with their types' suffixes)."""
    vllm = emulator("vllm")
    config = DeckConfig.model_validate({"providers": [{"name": "vl", "kind": "vllm", "base_url": vllm.url}]})
    deck = Deck(config, tmp_path / "data")
    await deck.start(monitor=False)
    try:
        async with metrics_endpoint(deck, "127.0.0.1", 0) as server, httpx.AsyncClient(timeout=HANG_S) as client:
            text = (await client.get(server.url)).text
    finally:
        await deck.stop()
    return {family.name + suffix for family in text_string_to_metric_families(text)
           for suffix in SERIES_SUFFIXES[family.type]}


def test_the_dashboard_has_what_grafana_needs() -> None:
    dashboard = load_dashboard()
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert dashboard["title"] and dashboard["uid"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    titles = {panel["title"] for panel in panels(dashboard)}
    for wanted in ("Requests/s", "Error rate", "Providers up", "Spend vs budget", "Latency p50 / p95 by model",
                   "Time to first token p50 / p95 by model", "Tokens/s by model", "Errors/s by class",
                   "Cost per hour by provider", "GPU memory in use"):
        assert wanted in titles


def test_panels_fit_the_grid_without_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in panels(load_dashboard()):
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_query_reads_only_metrics_the_exporter_writes(exported: set[str]) -> None:
    assert {"llm_requests_total", "llm_request_duration_seconds_bucket", "llm_provider_up"} <= exported
    queried: set[str] = set()
    for panel in panels(load_dashboard()):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE and panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} reads no metric"
            assert names <= exported, f"{panel['title']}: {sorted(names - exported)} are not exported"
            queried |= names
    variable = next(v for v in load_dashboard()["templating"]["list"] if v["name"] == "provider")
    listed = re.fullmatch(r"label_values\((\w+), *provider\)", variable["query"]["query"])
    assert listed is not None and listed.group(1) in exported
    assert len(queried) >= 15, "the dashboard shows most of what is exported"
