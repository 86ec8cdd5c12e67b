"""`ADDR:PORT` as a listen address is written: `ui.metrics_listen` and `llmdeck serve-metrics --listen`."""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")
EXAMPLE = "127.0.0.1:9464"


def split_listen_address(text: str, *, free_port: bool = False) -> tuple[str, int]:
    """(address, port) of `ADDR:PORT` or `[IPV6]:PORT`; ValueError saying what is wrong. With `free_port`, port 0
    (the system picks a free one) is accepted too."""
    address, colon, port_text = text.strip().rpartition(":")
    if not colon or not address:
        raise ValueError(f"{text!r} is not ADDR:PORT (e.g. {EXAMPLE})")
    if not _ADDRESS.fullmatch(address):
        hint = "; write an IPv6 address in brackets, e.g. [::1]:9464" if ":" in address else ""
        raise ValueError(f"{address!r} is not a host name or IP address{hint}")
    if not (port_text.isascii() and port_text.isdigit()) or len(port_text) > 5:
        raise ValueError(f"the port {port_text!r} is not a number from 1 to 65535")
    port, lowest = int(port_text), 0 if free_port else 1
    if not lowest <= port <= 65535:
        raise ValueError(f"the port {port} is not from {lowest} to 65535")
    return address.strip("[]"), port


def check_listen_address(value: str) -> str:
    """A config field's validator: the value as written, when it is ADDR:PORT with a port from 1 to 65535."""
    split_listen_address(value)
    return value
