"""The one health policy: what a failed probe means, and the probe itself (bounded, timed, never raising).

Ownership: an adapter's `health()` knows its backend's routes and reads a reply into a Health (including verdicts
only that kind can give, such as llama.cpp's "Loading model" or vLLM's dead engine); when a call fails it raises
the ProviderError. This module alone turns that error into a status, and `probe_health` is the one way the
monitor, discovery and the CLI (through the monitor) ask a provider how it is.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from providers.base import Adapter, Health, HealthStatus
from providers.errors import (
    AuthFailedError,
    BadRequestError,
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
from providers.reply_bounds import as_provider_error

_DECISIONS: tuple[tuple[type[ProviderError], HealthStatus], ...] = (
    (AuthFailedError, "unauthorized"),
    (UnreachableError, "down"),
    (ProviderTimeoutError, "down"),
    (ProtocolError, "down"),
    (UnsupportedError, "unknown"),
    (BadRequestError, "down"),  # NotFoundError too
    (RateLimitedError, "degraded"),
    (OverloadedError, "degraded"),
    (ServerError, "degraded"),
    (QuotaExhaustedError, "degraded"),
    (StreamBrokenError, "degraded"),
)


def health_status(error: ProviderError) -> HealthStatus:
    """The status a probe that failed with `error` means, whatever the backend's kind.

    | error                                        | status       | why                                           |
    |----------------------------------------------|--------------|-----------------------------------------------|
    | AuthFailedError (401, 403)                   | unauthorized | alive, but refuses this key: fix the key      |
    | UnreachableError (refused, DNS, no route)    | down         | nothing answered                              |
    | ProviderTimeoutError (any phase)             | down         | nothing answered in time                      |
    | ProtocolError (garbage, dropped connection)  | down         | what answered is not this kind's API (another |
    |                                              |              | server on the port, a proxy's page), or cuts  |
    |                                              |              | every reply: nothing usable answers           |
    | BadRequestError, NotFoundError (other 4xx)   | down         | it refuses the cheapest call its kind has:    |
    |                                              |              | wrong URL or missing database, a fault of the |
    |                                              |              | configuration that no wait will cure          |
    | UnsupportedError                             | unknown      | the adapter cannot probe this backend         |
    | ServerError (other 5xx)                      | degraded     | the server answered: alive, failing for now   |
    | OverloadedError (503, 529)                   | degraded     | alive, shedding load                          |
    | RateLimitedError (429)                       | degraded     | alive, asks us to slow down                   |
    | QuotaExhaustedError (402, insufficient_quota)| degraded     | see below                                     |
    | StreamBrokenError                            | degraded     | text arrived before the break: alive          |
    | any other error (context, content filter)    | down         | nothing shows the backend alive               |

    Quota is `degraded`, not `unauthorized` or `down`: the server is up and the key is valid (`unauthorized` reads
    as "no key" and would send the operator to a key that is fine), and `down` would open the provider's
    breakers and back its probes off, so a top-up would show late. The router skips only `down` and
    `unauthorized` providers; a degraded one is still tried, and the request's own QuotaExhaustedError (no retry)
    moves it to the next hop and counts against the breaker. OpenRouter's and DeepSeek's probes, which read the
    balance from a successful reply, say `degraded` for an empty balance for the same reason.
    """
    for error_class, status in _DECISIONS:
        if isinstance(error, error_class):
            return status
    return "down"  # a ProviderError outside the taxonomy: nothing shows the backend alive


def health_from_error(error: ProviderError) -> Health:
    """The Health of a probe that failed with `error`; the detail is the error without the provider's name."""
    return Health(health_status(error), detail=error.brief)


async def probe_health(adapter: Adapter, timeout_s: float) -> Health:
    """Probe `adapter` once: bounded by `timeout_s`, timed over the whole probe (`latency_ms`, whatever the
    outcome), its failure judged by `health_status`. Never raises for the provider's failure, nor for an
    exception an adapter let escape: that is `down` with its name in the detail, since nothing this probe read can
    be trusted to show the backend alive; cancellation passes through."""
    started = time.perf_counter()
    bound = asyncio.timeout(timeout_s)
    try:
        async with bound:
            health = await adapter.health()
    except Exception as exc:
        if isinstance(exc, TimeoutError) and bound.expired():
            health = Health("down", detail=f"no answer within {timeout_s:g}s")
        elif isinstance(exc, ProviderError):
            health = health_from_error(exc)
        else:
            health = Health("down", detail=as_provider_error(exc, adapter.name).brief)
    return replace(health, latency_ms=(time.perf_counter() - started) * 1000.0)
