"""A Milvus (or Qdrant) provider pointed at a gRPC port, as milvus-lite offers: a real grpcio server on loopback
answers llmdeck's HTTP/1.1 with HTTP/2 frames, and the health says so and what to configure instead."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from providers.adapters import build_adapter
from providers.adapters.grpc_port import is_http2_settings_frame
from providers.base import Adapter, AdapterOptions
from providers.errors import ProtocolError
from providers.health_policy import probe_health
from tests.hostile.hostile_server import canned, hostile_server
from tests.waiting import HANG_S

grpc = pytest.importorskip("grpc", reason="grpcio (installed with chromadb, the test extra) is not installed")


@pytest.fixture
async def grpc_port() -> AsyncIterator[str]:
    """A real gRPC server (grpcio, no services) on a free loopback port: its URL."""
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.stop(None)


def service(kind: str, url: str, client: httpx.AsyncClient) -> Adapter:
    return build_adapter(AdapterOptions(name=f"my-{kind}", base_url=url, kind=kind, timeout_s=10.0), client)


async def test_milvus_on_a_grpc_port_says_grpc_and_what_to_configure(grpc_port: str,
                                                                     client: httpx.AsyncClient) -> None:
    milvus = service("milvus", grpc_port, client)
    health = await probe_health(milvus, HANG_S)
    assert health.status == "down"
    assert health.detail.startswith("this port speaks gRPC (HTTP/2 only), not HTTP/1.1")
    assert "milvus-lite" in health.detail and "REST API" in health.detail and "19530" in health.detail
    with pytest.raises(ProtocolError, match="speaks gRPC"):
        await milvus.list_models()


async def test_qdrant_on_its_grpc_port_points_at_its_rest_port(grpc_port: str, client: httpx.AsyncClient) -> None:
    health = await probe_health(service("qdrant", grpc_port, client), HANG_S)
    assert health.status == "down" and "speaks gRPC" in health.detail and "6333" in health.detail


async def test_services_without_a_grpc_port_keep_the_plain_error(grpc_port: str, client: httpx.AsyncClient) -> None:
    health = await probe_health(service("n8n", grpc_port, client), HANG_S)
    assert health.status == "down" and health.detail.startswith("connection dropped: RemoteProtocolError")


async def test_a_server_that_merely_drops_the_connection_gets_no_grpc_hint(client: httpx.AsyncClient) -> None:
    with hostile_server({}, default=canned(b"not http at all\r\n\r\n")) as server:
        health = await probe_health(service("milvus", server.url, client), HANG_S)
    assert health.status == "down" and "connection dropped" in health.detail and "gRPC" not in health.detail


@pytest.mark.parametrize(("head", "proves"), [
    (bytes.fromhex("000018040000000000"), True),  # grpcio 1.85's first frame: SETTINGS, 24 bytes, stream 0
    (bytes.fromhex("000000040100000000"), True),  # a SETTINGS ack
    (bytes.fromhex("000018040000000001"), False),  # SETTINGS never travels on a stream
    (bytes.fromhex("000017040000000000"), False),  # not a whole number of settings
    (bytes.fromhex("000008070000000000"), False),  # GOAWAY first
    (b"HTTP/1.1 ", False),
    (b"\x00\x00", False),
])
def test_only_an_http2_settings_frame_proves_a_grpc_port(head: bytes, proves: bool) -> None:
    assert is_http2_settings_frame(head) is proves
