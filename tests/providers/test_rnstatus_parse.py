"""`rnstatus -j` as recorded from rns 1.5.7 (tests/fixtures/rnstatus_*): interfaces counted and named as the
text view of the same state shows them, control characters never reach a name or a detail, and "down" is
reachable while rnsd answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from providers.adapters.rnstatus_parse import health_from_rnstatus_json, shown_in_text_view
from tests.providers.rns_text_view import text_view_interfaces

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED_JSON = (FIXTURES / "rnstatus_j_up.json").read_bytes()
RECORDED_TEXT = (FIXTURES / "rnstatus_text.txt").read_text(encoding="utf-8")


def recorded() -> dict[str, Any]:
    stats: dict[str, Any] = json.loads(RECORDED_JSON)
    return stats


def health_of(stats: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    health = health_from_rnstatus_json(json.dumps(stats).encode())
    return health.status, health.detail, health.models_loaded


def test_the_recorded_json_counts_and_names_what_the_text_view_shows() -> None:
    text_view = text_view_interfaces(RECORDED_TEXT)
    assert len(json.loads(RECORDED_JSON)["interfaces"]) == 4  # -j lists rnstatus's own LocalInterface too
    assert text_view == [("Shared Instance[rns/lab14242]", True),
                         ("TCPServerInterface[Loopback TCP Server/127.0.0.1:14242]", True),
                         ("TCPInterface[Dead Client/127.0.0.1:14249]", False)]
    health = health_from_rnstatus_json(RECORDED_JSON)
    assert health.status == "degraded"
    assert health.detail == "2/3 interfaces up · down: TCPInterface[Dead Client/127.0.0.1:14249]"
    assert health.models_loaded == tuple(name for name, up in text_view if up)


def test_the_nul_byte_of_rnstatus_own_connection_never_reaches_a_name_or_the_detail() -> None:
    assert any("\x00" in i["short_name"] for i in recorded()["interfaces"])  # as recorded
    health = health_from_rnstatus_json(RECORDED_JSON)
    shown = (health.detail, *health.models_loaded)
    assert not any("\x00" in text or "␀" in text or "LocalInterface" in text for text in shown)


def test_control_characters_in_a_shown_name_are_made_visible_not_obeyed() -> None:
    stats = recorded()
    stats["interfaces"][1]["name"] = "TCPServerInterface[\x1b]52;c;aGk=\x07evil\x00\x1b[2J/1.2.3.4:1]"
    stats["interfaces"][2]["name"] = "TCPInterface[\x1b[31mred\nline/5.6.7.8:2]"
    _, detail, up = health_of(stats)
    assert up[1] == "TCPServerInterface[evil␀/1.2.3.4:1]"
    assert detail.endswith("down: TCPInterface[red line/5.6.7.8:2]")
    assert not any(ord(c) < 0x20 for text in (detail, *up) for c in text)


def test_all_network_interfaces_up_is_up() -> None:
    stats = recorded()
    stats["interfaces"][2]["status"] = True
    assert health_of(stats)[:2] == ("up", "3/3 interfaces up")


def test_no_network_interface_up_is_down_though_the_shared_instance_answers() -> None:
    stats = recorded()
    stats["interfaces"][1]["status"] = False
    status, detail, up = health_of(stats)
    assert status == "down"
    assert detail == ("1/3 interfaces up · no network interface is up: TCPServerInterface[Loopback TCP Server/"
                      "127.0.0.1:14242], TCPInterface[Dead Client/127.0.0.1:14249]")
    assert up == ("Shared Instance[rns/lab14242]",)


def test_a_node_with_only_its_shared_instance_is_down() -> None:
    stats = recorded()
    del stats["interfaces"][1:3]
    assert health_of(stats)[:2] == ("down", "1/1 interfaces up · rnsd has no network interface configured")


def test_hidden_per_connection_interfaces_are_not_counted_whatever_their_status() -> None:
    stats = recorded()
    template = stats["interfaces"][2]
    hidden = ["TCPInterface[Client on Loopback TCP Server]", "BackboneInterface[Client on x]",
              "AutoInterfacePeer[eth0/fe80::1]", "WeaveInterfacePeer[w]", "I2PInterfacePeer[Connected peer/x]",
              "LocalInterface[37428]"]
    stats["interfaces"] += [{**template, "name": name, "status": False} for name in hidden]
    stats["interfaces"].append({**template, "name": "I2PInterface[i2p]", "i2p_connectable": False})
    stats["interfaces"].append({**template, "name": "I2PInterface[open]", "i2p_connectable": True, "status": True})
    status, detail, up = health_of(stats)
    assert (status, detail) == ("degraded", "3/4 interfaces up · down: TCPInterface[Dead Client/127.0.0.1:14249]")
    assert up[-1] == "I2PInterface[open]"


@pytest.mark.parametrize(("name", "shown"), [
    ("TCPInterface[Client on Loopback TCP Server]", False),
    ("TCPInterface[Testnet/dublin.connect.reticulum.network:4965]", True),
    ("RNodeInterface[LoRa 868]", True),
    ("AutoInterface[Default Interface]", True),
    ("AutoInterfacePeer[eth0/fe80::1]", False),
])
def test_the_filter_is_rnstatus_own(name: str, shown: bool) -> None:
    assert shown_in_text_view({"name": name}) is shown


def test_many_down_interfaces_are_summed_up_in_one_line() -> None:
    stats = recorded()
    template = stats["interfaces"][2]
    stats["interfaces"] += [{**template, "name": f"TCPInterface[peer{i}/10.0.0.{i}:4242]"} for i in range(5)]
    status, detail, _ = health_of(stats)
    assert status == "degraded"
    assert detail.endswith("TCPInterface[peer1/10.0.0.1:4242] (+3 more)") and "\n" not in detail


def test_transport_uptime_is_shown_when_transport_is_on() -> None:
    stats = recorded()
    stats.update(transport_id="ab12", transport_uptime=10920)
    assert health_of(stats)[1].endswith(" · transport up 3h02m")


@pytest.mark.parametrize(("out", "detail"), [
    ((FIXTURES / "rnstatus_no_instance.txt").read_bytes().splitlines(keepends=True)[0],
     "rnstatus -j printed no JSON: b'No shared RNS instance available to get status from\\n'"),
    (b"[1, 2]", "rnstatus -j printed no `interfaces` list"),
    (b'{"interfaces": {"a": 1}}', "rnstatus -j printed no `interfaces` list"),
    (b"\x1b]0;title\x07not json", "rnstatus -j printed no JSON: b'\\x1b]0;title\\x07not json'"),
])
def test_output_that_is_not_rnstatus_json_is_down(out: bytes, detail: str) -> None:
    health = health_from_rnstatus_json(out)
    assert (health.status, health.detail) == ("down", detail)
