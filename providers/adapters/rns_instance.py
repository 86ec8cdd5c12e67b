"""Is rnsd's shared instance listening? Answered from the kernel's socket tables, without touching the socket.

rnstatus finds the shared instance by trying to *bind* it first (rns 1.5.7 `Reticulum.__start_local_interface`:
a LocalServerInterface, dropped again when `require_shared_instance` is set). An rnsd that starts during that
moment cannot bind, connects to rnstatus's socket instead and runs on as a broken client ("connected to another
shared local instance"). A monitor probing every few seconds makes that likely enough to matter, so rnstatus is
only run once the instance is seen listening. Where the tables cannot be read (not Linux), rnstatus runs anyway.

The instance's address comes from the `[reticulum]` section of the config, with rns's defaults: on Linux an
abstract AF_UNIX socket `@rns/<instance_name>` (name `default`) unless `shared_instance_type = tcp`, then TCP
`shared_instance_port` (37428) on 127.0.0.1.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 37428
_CONFIG_BYTES = 1024 * 1024
_PROC_UNIX = Path("/proc/net/unix")
_PROC_TCP = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_UNIX_LISTENING = "00010000"  # __SO_ACCEPTCON in the Flags column
_TCP_LISTEN = "0A"
_SECTION = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class SharedInstance:
    """Where rnsd serves local programs, as its config says."""

    shared: bool
    unix_name: str | None
    """The abstract socket's name after `rns/`; None when the instance is on TCP."""
    port: int


def reticulum_section(config_text: str) -> dict[str, str]:
    """`key = value` pairs of the top-level `[reticulum]` section (configobj syntax, unquoted, comments cut)."""
    values: dict[str, str] = {}
    inside = False
    for line in config_text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if (section := _SECTION.match(line)) is not None:
            inside = section.group(1).lower() == "reticulum"
            continue
        if inside and line.lstrip().startswith("[["):
            inside = False  # a subsection: none belongs to [reticulum]
        elif inside and (pair := _KEY.match(line)) is not None:
            value = pair.group(2)
            if value[:1] in "\"'" and len(value) > 1 and value[-1] == value[0]:
                value = value[1:-1]
            else:
                value = value.split("#", 1)[0].strip()
            values[pair.group(1).lower()] = value
    return values


def shared_instance(config_dir: Path, *, linux: bool | None = None) -> SharedInstance:
    """The shared instance rnsd opens with the config in `config_dir`."""
    linux = sys.platform == "linux" if linux is None else linux
    with (config_dir / "config").open("r", encoding="utf-8", errors="replace") as config:
        section = reticulum_section(config.read(_CONFIG_BYTES))
    shared = section.get("share_instance", "yes").lower() not in ("no", "false", "off", "0")
    try:
        port = int(section.get("shared_instance_port", DEFAULT_PORT))
    except ValueError:
        port = DEFAULT_PORT
    on_unix = linux and section.get("shared_instance_type", "unix").lower() != "tcp"
    return SharedInstance(shared, section.get("instance_name", "default") if on_unix else None, port)


def is_listening(instance: SharedInstance) -> bool | None:
    """Whether something listens where the instance would; None when this system's tables cannot be read."""
    try:
        if instance.unix_name is not None:
            return _unix_listening(f"@rns/{instance.unix_name}")
        return _tcp_listening(instance.port)
    except OSError:
        return None


def _unix_listening(path: str) -> bool:
    with _PROC_UNIX.open("r", encoding="utf-8", errors="replace") as table:
        for row in table:
            # Num RefCount Protocol Flags Type St Inode Path
            columns = row.rstrip("\n").split(None, 7)
            if len(columns) == 8 and columns[7] == path and columns[3] == _UNIX_LISTENING:
                return True
    return False


def _tcp_listening(port: int) -> bool:
    wanted = f":{port:04X}"
    readable = False
    for path in _PROC_TCP:
        try:
            with path.open("r", encoding="ascii", errors="replace") as table:
                readable = True
                for row in table:
                    # sl local_address rem_address st ...
                    columns = row.split(None, 4)
                    if len(columns) >= 4 and columns[1].endswith(wanted) and columns[3] == _TCP_LISTEN:
                        return True
        except FileNotFoundError:
            continue  # no IPv6 here
    if not readable:
        raise FileNotFoundError(_PROC_TCP[0])
    return False
