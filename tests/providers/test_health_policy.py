"""The one health policy: each error class to one status, and the same fault to the same status whatever the kind,
through the monitor's probe over loopback."""

from __future__ import annotations

import httpx
import pytest

from providers.adapters import build_adapter
from providers.base import Adapter, AdapterOptions, Health
from providers.errors import (
    AuthFailedError,
    BadRequestError,
    ContentFilteredError,
    ContextTooLongError,
    NotFoundError,
    OverloadedError,
    ProtocolError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitedError,
    ServerError,
    StreamBrokenError,
    UnreachableError,
    UnsupportedError,
)
from providers.health_policy import health_from_error, probe_health
from providers.monitor import HealthMonitor, MonitorPolicy
from tests.conftest import EmulatorFactory

TABLE: list[tuple[ProviderError, str]] = [
    (AuthFailedError("Incorrect API key", status=401), "unauthorized"),
    (AuthFailedError("forbidden", status=403), "unauthorized"),
    (UnreachableError("connection refused"), "down"),
    (ProviderTimeoutError("no connection", phase="connect"), "down"),
    (ProviderTimeoutError("no answer", phase="read"), "down"),
    (ProviderTimeoutError("no first token", phase="ttft"), "down"),
    (ProviderTimeoutError("stalled", phase="idle"), "down"),
    (ProviderTimeoutError("too slow", phase="total"), "down"),
    (ProtocolError("malformed JSON in GET /v1/models"), "down"),
    (NotFoundError("no such route", status=404), "down"),
    (BadRequestError("bad request", status=400), "down"),
    (ContextTooLongError("prompt too long"), "down"),
    (ContentFilteredError("refused"), "down"),
    (UnsupportedError("tgi does not support health"), "unknown"),
    (ServerError("Internal server error", status=500), "degraded"),
    (ServerError("Bad gateway", status=502), "degraded"),
    (OverloadedError("server busy", status=503), "degraded"),
    (OverloadedError("overloaded_error", status=529), "degraded"),
    (RateLimitedError("slow down", retry_after=2.0), "degraded"),
    (QuotaExhaustedError("insufficient_quota", status=402), "degraded"),
    (StreamBrokenError("cut", partial="Hel"), "degraded"),
    (ProviderError("something else"), "down"),
]


@pytest.mark.parametrize(("error", "status"), TABLE, ids=[f"{type(e).__name__}-{s}" for e, s in TABLE])
def test_each_error_class_means_one_status(error: ProviderError, status: str) -> None:
    health = health_from_error(error)
    assert health.status == status
    assert health.detail == error.brief


SAME_500_KINDS = ("openai", "a1111", "comfyui", "tgi", "anthropic", "ollama", "qdrant")
"""One of each wire protocol: an OpenAI-compatible server, both image servers, TGI, Anthropic, Ollama, a service."""


async def test_the_same_http_500_is_the_same_status_for_every_kind(emulator: EmulatorFactory,
                                                                   client: httpx.AsyncClient) -> None:
    adapters = {kind: build_adapter(AdapterOptions(name=kind, base_url=emulator(kind, faults="500").url, kind=kind,
                                                   api_key=lambda: "lab-key-1234", timeout_s=30), client)
                for kind in SAME_500_KINDS}
    for adapter in adapters.values():  # the adapter only raises; the one policy judges
        with pytest.raises(ServerError):
            await adapter.health()
    monitor = HealthMonitor(adapters, MonitorPolicy(probe_timeout_s=60))
    statuses = {kind: (await monitor.probe(kind)).status for kind in SAME_500_KINDS}
    assert statuses == dict.fromkeys(SAME_500_KINDS, "degraded")
    assert all("HTTP 500" in monitor.snapshots[kind].detail for kind in SAME_500_KINDS)
    assert all(monitor.snapshots[kind].latency_ms is not None for kind in SAME_500_KINDS)


@pytest.mark.parametrize(("fault", "status"), [("401", "unauthorized"), ("402", "degraded"), ("429", "degraded"),
                                               ("503", "degraded"), ("malformed", "down"), ("refuse", "down")])
@pytest.mark.parametrize("kind", ["anthropic", "tgi", "ollama", "qdrant"])
async def test_every_fault_means_the_same_status_for_every_kind(kind: str, fault: str, status: str,
                                                                emulator: EmulatorFactory,
                                                                client: httpx.AsyncClient) -> None:
    options = AdapterOptions(name=kind, base_url=emulator(kind, faults=fault).url, kind=kind,
                             api_key=lambda: "lab-key-1234", timeout_s=30)
    health = await probe_health(build_adapter(options, client), 60)
    assert health.status == status, health.detail


async def test_the_probe_is_timed_whatever_it_ends_in(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    for fault, status in (("", "up"), ("500", "degraded"), ("refuse", "down")):
        options = AdapterOptions(name="o", base_url=emulator("ollama", faults=fault).url, kind="ollama")
        health = await probe_health(build_adapter(options, client), 60)
        assert health.status == status
        assert health.latency_ms is not None and health.latency_ms > 0


async def test_a_hung_probe_is_down_within_the_bound(emulator: EmulatorFactory, client: httpx.AsyncClient) -> None:
    options = AdapterOptions(name="hang", base_url=emulator("ollama", faults="stall_first:600").url, kind="ollama",
                             timeout_s=600)
    health = await probe_health(build_adapter(options, client), 0.5)
    assert health.status == "down" and health.detail == "no answer within 0.5s"


class _Crashing(Adapter):
    """An adapter with a bug: its probe lets a non-taxonomy exception escape."""

    async def health(self) -> Health:
        raise KeyError("sd_model_checkpoint")


async def test_an_exception_an_adapter_let_escape_is_judged_not_raised(client: httpx.AsyncClient) -> None:
    health = await probe_health(_Crashing(AdapterOptions(name="bug", base_url="http://127.0.0.1:9", kind="x"),
                                          client), 5)
    assert health.status == "down" and "KeyError" in health.detail
