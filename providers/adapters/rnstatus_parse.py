"""`rnstatus -j` JSON → Health, counting and naming interfaces the way rnstatus's own text view does.

`-j` dumps every interface the shared instance holds, including the per-connection ones its text view hides:
each local program's `LocalInterface[…]` (rnstatus's own connection among them, whose `short_name` holds a NUL
byte), each accepted TCP client `TCPInterface[Client on …]`, auto-discovered and I2P peers. Counting those made
a node with one dead link look healthier than `rnstatus` says. The filter below is the one in rns 1.5.7
`RNS/Utilities/rnstatus.py` (`program_setup`, the loop over `stats["interfaces"]`); the name shown is `name`,
as there, not `short_name`.

Status: every shown interface up is up; the shared instance is always up while rnsd answers, so it alone does
not count as reaching the network — with no network interface up (or none configured) the node is down.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.base import Health, HealthStatus
from providers.safe_text import one_line

_HIDDEN_PREFIXES = (
    "LocalInterface[",
    "TCPInterface[Client",
    "BackboneInterface[Client on",
    "AutoInterfacePeer[",
    "WeaveInterfacePeer[",
    "I2PInterfacePeer[Connected peer",
)
"""Names the text view leaves out unless `rnstatus -a` is given."""
_SHARED_INSTANCE = "Shared Instance["
_NAME_CHARS = 120
"""A name longer than this is cut: a detail line stays readable."""
_DOWN_NAMES_SHOWN = 3


@dataclass(frozen=True, slots=True)
class ShownInterface:
    """One interface as the text view prints it: its name (terminal-safe) and whether it is up."""

    name: str
    up: bool
    network: bool
    """False for the shared instance: it serves local programs and is up whenever rnsd answers."""


def shown_in_text_view(interface: Mapping[str, Any]) -> bool:
    """Whether plain `rnstatus` lists this interface."""
    name = interface.get("name")
    if not isinstance(name, str):
        return True  # rnstatus would print it (or fail on it); never hide what we cannot classify
    if name.startswith(_HIDDEN_PREFIXES):
        return False
    return not (name.startswith("I2PInterface[") and interface.get("i2p_connectable") is False)


def shown_interfaces(stats: Mapping[str, Any]) -> list[ShownInterface] | None:
    """The interfaces of an `rnstatus -j` document the text view shows, in its order; None without a list."""
    interfaces = stats.get("interfaces")
    if not isinstance(interfaces, list):
        return None
    shown = []
    for interface in interfaces:
        if not isinstance(interface, dict) or not shown_in_text_view(interface):
            continue
        raw = interface.get("name")
        name = one_line(raw)[:_NAME_CHARS] if isinstance(raw, str) and raw else "?"
        network = not (isinstance(raw, str) and raw.startswith(_SHARED_INSTANCE))
        shown.append(ShownInterface(name=name, up=bool(interface.get("status")), network=network))
    return shown


def health_from_rnstatus_json(out: bytes) -> Health:
    """Health of the node whose `rnstatus -j` printed `out`."""
    try:
        stats: Any = json.loads(out)
    except ValueError:
        return Health("down", detail=one_line(f"rnstatus -j printed no JSON: {out[:120]!r}"))
    shown = shown_interfaces(stats) if isinstance(stats, dict) else None
    if shown is None:
        return Health("down", detail="rnstatus -j printed no `interfaces` list")
    up = tuple(i.name for i in shown if i.up)
    down = [i.name for i in shown if not i.up]
    network = [i for i in shown if i.network]
    detail = f"{len(up)}/{len(shown)} interfaces up"
    status: HealthStatus
    if not network:
        status, detail = "down", detail + " · rnsd has no network interface configured"
    elif not any(i.up for i in network):
        status, detail = "down", detail + " · no network interface is up: " + _names(down)
    elif down:
        status, detail = "degraded", detail + " · down: " + _names(down)
    else:
        status = "up"
    uptime = stats.get("transport_uptime")
    if isinstance(uptime, int | float) and not isinstance(uptime, bool) and 0 <= uptime < 1e12 \
            and stats.get("transport_id"):
        hours, rest = divmod(int(uptime), 3600)
        detail += f" · transport up {hours}h{rest // 60:02d}m"
    return Health(status, models_loaded=up, detail=detail)


def _names(names: list[str]) -> str:
    more = len(names) - _DOWN_NAMES_SHOWN
    return ", ".join(names[:_DOWN_NAMES_SHOWN]) + (f" (+{more} more)" if more > 0 else "")
