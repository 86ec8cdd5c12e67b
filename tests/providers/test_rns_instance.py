"""Where rnsd's shared instance listens, read from a Reticulum config as rns reads it (defaults included), and
whether the kernel's socket tables show it listening."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest

from providers.adapters.rns_instance import (
    DEFAULT_PORT,
    SharedInstance,
    is_listening,
    reticulum_section,
    shared_instance,
)

CONFIG = """\
# instance_name = commented-out
[reticulum]
  enable_transport = False
  share_instance = Yes   # inline comment
  instance_name = "my node"
  shared_instance_port = 37500

[logging]
  loglevel = 4

[interfaces]
  [[Default Interface]]
    type = AutoInterface
    instance_name = not-this-one
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config").write_text(text, encoding="utf-8")
    return tmp_path


def test_only_the_reticulum_section_is_read() -> None:
    assert reticulum_section(CONFIG) == {"enable_transport": "False", "share_instance": "Yes",
                                         "instance_name": "my node", "shared_instance_port": "37500"}


def test_the_instance_is_an_abstract_unix_socket_on_linux_and_tcp_elsewhere(tmp_path: Path) -> None:
    config_dir = write(tmp_path, CONFIG)
    assert shared_instance(config_dir, linux=True) == SharedInstance(True, "my node", 37500)
    assert shared_instance(config_dir, linux=False) == SharedInstance(True, None, 37500)


@pytest.mark.parametrize(("text", "expected"), [
    ("", SharedInstance(True, "default", DEFAULT_PORT)),
    ("[reticulum]\n  share_instance = No\n", SharedInstance(False, "default", DEFAULT_PORT)),
    ("[reticulum]\n  shared_instance_type = TCP\n  instance_name = x\n", SharedInstance(True, None, DEFAULT_PORT)),
    ("[reticulum]\n  shared_instance_port = not-a-port\n", SharedInstance(True, "default", DEFAULT_PORT)),
])
def test_rns_defaults_fill_what_the_config_leaves_out(tmp_path: Path, text: str,
                                                      expected: SharedInstance) -> None:
    assert shared_instance(write(tmp_path, text), linux=True) == expected


@pytest.mark.skipif(not Path("/proc/net/unix").is_file(), reason="no /proc/net socket tables here")
def test_a_listening_socket_is_seen_and_a_bound_one_is_not() -> None:
    name = f"llmdeck-test-{uuid.uuid4().hex[:12]}"
    with socket.socket(socket.AF_UNIX) as unix, socket.socket() as tcp:
        unix.bind(f"\0rns/{name}")
        tcp.bind(("127.0.0.1", 0))
        port = tcp.getsockname()[1]
        assert is_listening(SharedInstance(True, name, 0)) is False
        assert is_listening(SharedInstance(True, None, port)) is False
        unix.listen()
        tcp.listen()
        assert is_listening(SharedInstance(True, name, 0)) is True
        assert is_listening(SharedInstance(True, None, port)) is True
