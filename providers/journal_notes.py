"""What each happening reads as in the event journal: health changes, failed probes, breaker moves, requests (live
and from the ledger), model operations and config reloads, each as a JournalNote.

Summaries lead with what an operator scans for (the new state, the status, who served) and fit one line; the
detail spells out the rest (every hop of a request, the whole error). The journal makes every text safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from providers.base import Health
from providers.breaker import BreakerChange, BreakerState
from providers.display import milliseconds, usd
from providers.errors import ProviderError
from providers.journal import EventLevel, JournalNote
from providers.ledger_schema import RequestRecord
from providers.monitor import HealthEvent
from providers.routing import Attempt, Target

OperationKind = Literal["pull", "delete", "load", "unload", "restart", "switch"]
OperationOutcome = Literal["done", "failed", "cancelled"]

PROBE_QUIET_S = 60.0
"""A failed probe that changes no status is noted at most this often per provider: a provider down for a day must
not push the requests out of the journal."""

_HEALTH_LEVEL: dict[str, EventLevel] = {"up": "info", "degraded": "warning", "unknown": "warning",
                                        "down": "error", "unauthorized": "error"}
_BREAKER_WORD: dict[BreakerState, str] = {"open": "opened", "half_open": "half-open", "closed": "closed"}
_BREAKER_LEVEL: dict[BreakerState, EventLevel] = {"open": "error", "half_open": "warning", "closed": "info"}
_DONE_WORD: dict[OperationKind, str] = {"pull": "pulled", "delete": "deleted", "load": "loaded",
                                        "unload": "unloaded", "restart": "restarted", "switch": "switched to"}
_OUTCOME_LEVEL: dict[OperationOutcome, EventLevel] = {"done": "info", "failed": "error", "cancelled": "warning"}


def error_text(error: BaseException) -> str:
    """An error as one reads it after its provider's name: a provider error's brief, else its message."""
    if isinstance(error, ProviderError):
        return error.brief
    return str(error) or type(error).__name__


def _target(target: Target | None) -> str:
    return f"{target.provider}/{target.model}" if target is not None else "nobody"


# --- health ---------------------------------------------------------------------------------------------------


def _health_detail(health: Health) -> str:
    lines = [f"status {health.status}"]
    if health.latency_ms is not None:
        lines.append(f"probe took {milliseconds(health.latency_ms)}")
    if health.version:
        lines.append(f"version {health.version}")
    if health.detail:
        lines.append(health.detail)
    return "\n".join(lines)


class HealthNotes:
    """Every status change is noted. A failed probe that changes nothing is noted when it says something the probe
    before did not (another error), at most once per PROBE_QUIET_S per provider."""

    def __init__(self, quiet_s: float = PROBE_QUIET_S) -> None:
        self.quiet_s = quiet_s
        self._last_probe_note: dict[str, float] = {}

    def note(self, event: HealthEvent) -> JournalNote | None:
        health, previous = event.health, event.previous
        level = _HEALTH_LEVEL.get(health.status, "warning")
        because = f": {health.detail}" if health.detail and health.status != "up" else ""
        if event.changed:
            change = f"{health.status} (first probe)" if previous is None else f"{previous.status} → {health.status}"
            return JournalNote("health", event.provider, change + because, level, _health_detail(health))
        if health.status == "up" or (previous is not None and previous.detail == health.detail):
            return None
        last = self._last_probe_note.get(event.provider)
        if last is not None and event.at - last < self.quiet_s:
            return None
        self._last_probe_note[event.provider] = event.at
        return JournalNote("probe", event.provider, f"probe failed ({health.status}){because}", level,
                           _health_detail(health))


# --- breakers -------------------------------------------------------------------------------------------------


def breaker_note(change: BreakerChange) -> JournalNote:
    """`opened: 5 failures in a row: server_error · MODEL`; the subject is the provider."""
    summary = f"{_BREAKER_WORD[change.now]}: {change.why} · {change.model}"
    detail = (f"model {change.model}\n{_BREAKER_WORD[change.was]} → {_BREAKER_WORD[change.now]}\n"
              f"why: {change.why}")
    return JournalNote("breaker", change.provider, summary, _BREAKER_LEVEL[change.now], detail)


# --- requests -------------------------------------------------------------------------------------------------


def _failed_hops(attempts: Sequence[Attempt], served_by: Target | None) -> list[str]:
    """Each hop that failed, once, with the kind of its last error; the one that served in the end (after a retry)
    is not among them."""
    failed: dict[str, str] = {}
    for attempt in attempts:
        if attempt.outcome in ("error", "broken"):
            failed[f"{attempt.provider}/{attempt.model}"] = attempt.error_kind or attempt.outcome
    failed.pop(_target(served_by), None)
    return [f"{target} ({kind})" for target, kind in failed.items()]


def _hop_line(number: int, attempt: Attempt) -> str:
    where = f"{number}. {attempt.provider}/{attempt.model} via {attempt.via}"
    if attempt.outcome == "skipped":
        return f"{where} — skipped: {attempt.reason}"
    line = f"{where} — {attempt.outcome}"
    if attempt.error_kind:
        line += f" {attempt.error_kind}"
    if attempt.error:
        line += f": {attempt.error}"
    tries = f" · try {attempt.tries}" if attempt.tries > 1 else ""
    return f"{line}{tries} · {milliseconds(attempt.ms)}"


def request_note(alias: str, served_by: Target | None, attempts: Sequence[Attempt], *, status: str,
                 latency_ms: float | None, cost_usd: float, error_kind: str | None, error: str | None) -> JournalNote:
    """A routed chat that ended. Served: `ok · SERVED · fell back from A (server_error) · 312 ms · $0.00`; not:
    `error · unreachable · the last hop's error`. What a narrow table cuts off is in the detail."""
    failed = _failed_hops(attempts, served_by)
    parts = [status]
    if status != "ok" and error_kind:
        parts.append(error_kind)
    last_error = next((a.error for a in reversed(attempts) if a.error), None) or error
    if served_by is not None:
        parts.append(_target(served_by))
        if failed:
            parts.append("fell back from " + ", ".join(failed))
    elif last_error:
        parts.append(last_error)
    parts += [milliseconds(latency_ms), usd(cost_usd)]
    lines = [f"target {alias}", f"status {status}" + (f" ({error_kind})" if error_kind else ""),
             f"served by {_target(served_by)}", f"latency {milliseconds(latency_ms)} · cost {usd(cost_usd)}"]
    if failed:
        lines.append(("fallbacks: " if served_by is not None else "failed: ") + ", ".join(failed))
    if attempts:
        lines.append("hops:")
        lines += ["  " + _hop_line(number, attempt) for number, attempt in enumerate(attempts, start=1)]
    if error:
        lines.append(f"error: {error}")
    level: EventLevel = "error" if status in ("error", "cut") else "warning" if failed else "info"
    return JournalNote("request", alias, " · ".join(parts), level, "\n".join(lines))


def ledger_request_note(row: RequestRecord) -> JournalNote:
    """A request row the ledger kept from before this run (its hops are not kept: only the one that served)."""
    served = f"{row.provider}/{row.model}" if row.provider else "nobody"
    parts = [row.status]
    if row.status != "ok" and row.error_kind:
        parts.append(row.error_kind)
    parts.append(served)
    if row.hop:
        parts.append(f"at attempt {row.hop + 1}")
    if row.error_message:
        parts.append(row.error_message)
    parts += [milliseconds(row.latency_ms), usd(row.cost_usd)]
    lines = [f"target {row.alias or served}", f"status {row.status}" + (f" ({row.error_kind})" if row.error_kind
                                                                         else ""),
             f"served by {served}" + (f" at attempt {row.hop + 1}: the ones before failed or were skipped"
                                      if row.hop else ""),
             f"latency {milliseconds(row.latency_ms)} · cost {usd(row.cost_usd)}",
             f"tokens {row.prompt_tokens} in, {row.completion_tokens} out" + (" (counted by llmdeck)"
                                                                               if row.usage_estimated else "")]
    if row.error_message:
        lines.append(f"error: {row.error_message}")
    lines.append(f"from the ledger (request {row.id})")
    level: EventLevel = "error" if row.status in ("error", "cut") else "warning" if row.hop else "info"
    return JournalNote("request", row.alias or served, " · ".join(parts), level, "\n".join(lines), at=row.ts)


# --- operations and config -----------------------------------------------------------------------------------


def operation_note(kind: OperationKind, provider: str, model: str | None, outcome: OperationOutcome, *,
                   error: str = "", detail: str = "", ms: float | None = None) -> JournalNote:
    """`pulled qwen2.5:7b in 42 s`, `delete of qwen2.5:7b failed: HTTP 404: …`, `pull of x cancelled`."""
    what = f" {model}" if model else ""
    if outcome == "done":
        summary = f"{_DONE_WORD[kind]}{what}" + (f" in {milliseconds(ms)}" if ms is not None else "")
    elif outcome == "failed":
        summary = f"{kind}{what} failed: {error}"
    else:
        summary = f"{kind}{what} cancelled"
    lines = [line for line in (error and f"error: {error}", detail) if line]
    return JournalNote(kind, provider, summary, _OUTCOME_LEVEL[outcome], "\n".join(lines))


def config_reload_note(source: str, *, error: str | None = None, changes: Sequence[str] = ()) -> JournalNote:
    """A config reload that was applied (with what changed), or refused (the running config stays)."""
    if error is not None:
        return JournalNote("config", "config", f"reload of {source} refused, the running config stays: {error}",
                           "error", f"file {source}\n{error}")
    said = "; ".join(changes) if changes else "nothing changed"
    return JournalNote("config", "config", f"reloaded {source}: {said}", "info",
                       f"file {source}\n" + ("\n".join(changes) if changes else "nothing changed"))
