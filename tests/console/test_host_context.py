"""Hosts as contexts: `:host NAME` narrows every pane and the header to one host, `:host all` widens them again,
an unknown name is refused with the nearest one; `--host` does the same on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from config.schema import HostConfig
from console.app import DeckApp
from console.panes.graphs import GraphsPane
from console.panes.health import HealthPane
from console.panes.models import ModelsPane
from console.panes.routes import RoutesPane
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.host_context import host_names, host_problem, providers_on
from tests.console.pane_harness import wait_until
from tests.console.test_cli_ops import run

BOX = {"box-vllm", "box-llamacpp", "box-qdrant"}
"""The lab's providers on host `box`."""


def provider_rows(pane: HealthPane) -> set[str]:
    return {key for key in pane.table.keys if not key.startswith("host:")}


def notified(app: DeckApp, text: str) -> bool:
    return any(text in str(notification.message) for notification in app._notifications)


def test_hosts_are_those_of_hosts_and_those_providers_name(lab: Lab) -> None:
    config = lab.config.model_copy(update={"hosts": ()})
    assert host_names(config) == ["this-box", "box"], "in the order the providers name them"
    with_hosts = config.model_copy(update={"hosts": (HostConfig(name="box"), HostConfig(name="spare"))})
    assert host_names(with_hosts) == ["box", "spare", "this-box"], "`hosts:` first, then the others"
    assert set(providers_on({p.name: p for p in config.providers}, "box")) == BOX
    assert host_problem("bx", ["box", "this-box"]) == "unknown host 'bx' — did you mean box?"
    assert host_problem("all", ["box"]) is None
    assert "names no hosts" in (host_problem("box", []) or "")


async def test_host_command_narrows_every_pane_and_the_header_then_all_widens(deck: Deck) -> None:
    app = DeckApp(deck)
    async with app.run_test(size=(120, 36)) as pilot:
        health = app.pane("health")
        assert isinstance(health, HealthPane)
        await wait_until(pilot, lambda: provider_rows(health) > BOX, what="every provider in Health")
        await pilot.press("colon", *"host box", "enter")
        await wait_until(pilot, lambda: provider_rows(health) == BOX, what="Health narrowed to box")
        assert app.status._shown.startswith(" llmdeck @box ")
        assert " 3/3 up" in app.status._shown or "/3 up" in app.status._shown
        assert notified(app, "Host box: 3 providers shown")

        await pilot.press("2")
        models = app.pane("models")
        assert isinstance(models, ModelsPane)
        await wait_until(pilot, lambda: models.table.row_count > 0, what="the box's models")
        assert {row.provider for row in models.table.shown()} <= BOX
        assert len(models.table.in_context()) < len(models.table.rows_by_key)

        await pilot.press("4")
        routes = app.pane("routes")
        assert isinstance(routes, RoutesPane)
        await wait_until(pilot, lambda: bool(routes.visible_rows()), what="routes reaching box")
        reaching = {row.alias for row in routes.visible_rows()}
        assert all(any(row.provider in BOX for row in routes.visible_rows() if row.alias == alias)
                   for alias in reaching), "every route shown reaches the box"

        await pilot.press("3")
        graphs = app.pane("graphs")
        assert isinstance(graphs, GraphsPane)
        assert graphs._keeps("box-vllm") and not graphs._keeps("local-ollama")

        await pilot.press("colon", *"host bx", "enter")
        await wait_until(pilot, lambda: notified(app, "did you mean box?"), what="the unknown host refused")
        assert app.host_context == "box", "a refused name changes nothing"

        await pilot.press("colon", *"host all", "enter")
        await wait_until(pilot, lambda: len(models.table.in_context()) == len(models.table.rows_by_key),
                         what="every model again")
        await wait_until(pilot, lambda: "@" not in app.status._shown, what="the header without a host")
        await pilot.press("1")
        await wait_until(pilot, lambda: provider_rows(health) == set(deck.providers), what="every provider again")


async def test_the_console_can_start_narrowed(deck: Deck) -> None:
    app = DeckApp(deck, host="this-box")
    async with app.run_test(size=(100, 30)) as pilot:
        health = app.pane("health")
        assert isinstance(health, HealthPane)
        await wait_until(pilot, lambda: bool(provider_rows(health)), what="the Health rows")
        assert provider_rows(health) == {"local-ollama", "sd", "comfy", "local-n8n"}
        assert "@this-box" in app.status._shown


def test_cli_host_narrows_health_and_models_and_refuses_an_unknown_host(lab: Lab, tmp_path: Path) -> None:
    providers = [{"name": name, "kind": kind, "base_url": lab.servers[name].url, "host": host}
                 for name, kind, host in (("local-ollama", "ollama", "this-box"), ("box-vllm", "vllm", "box"),
                                          ("box-llamacpp", "llamacpp", "box"))]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"providers": providers, "hosts": [{"name": "box"}]}), encoding="utf-8")

    health = run(config, "health", "--host", "box", "--json")
    assert health.returncode == 0, health.stderr
    assert {row["name"] for row in json.loads(health.stdout)} == {"box-vllm", "box-llamacpp"}

    models = run(config, "--host", "this-box", "models", "--json")
    assert models.returncode == 0, models.stderr
    assert {row["provider"] for row in json.loads(models.stdout)} == {"local-ollama"}

    unknown = run(config, "health", "--host", "bx")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == ["llmdeck: unknown host 'bx' — did you mean box?"]
    assert unknown.stdout == ""
