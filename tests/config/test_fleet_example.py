"""docs/fleet.example.yaml, the fleet README points to, is a valid config of 20 hosts × 5 providers, each host a
context with its five providers and its GPUs read over ssh."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from config.loader import load_config
from providers.host_context import host_names, providers_on

FLEET = Path(__file__).resolve().parents[2] / "docs" / "fleet.example.yaml"


def test_the_documented_fleet_loads_with_twenty_hosts_of_five_providers() -> None:
    config = load_config(FLEET, environ={"HOME": "/home/ops"})
    assert len(config.hosts) == 20
    assert host_names(config) == [f"gpu{n:02d}" for n in range(1, 21)]
    per_host = Counter(provider.host for provider in config.providers)
    assert set(per_host.values()) == {5} and len(per_host) == 20
    providers = {provider.name: provider for provider in config.providers}
    assert len(providers_on(providers, "gpu07")) == 5
    assert all(host.ssh and host.gpus == "auto" for host in config.hosts)
    assert config.hosts[0].identity_file == "/home/ops/.ssh/lab_ed25519", "~ expands"
    assert config.ui.metrics_listen == "127.0.0.1:9464"
    assert [route.alias for route in config.routes] == ["chat", "chat-ollama"]
