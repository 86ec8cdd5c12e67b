"""What one chat turn came to (served by, fallbacks, TTFT, tokens/s, tokens, cost) and the line shown under it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from providers.deck import ChatRun
from providers.routing import Attempt

TurnStatus = Literal["complete", "cut", "cancelled", "failed"]

_STATUS_MARKS: dict[TurnStatus, str] = {"cut": "✂ cut", "cancelled": "■ cancelled", "failed": "✗ failed"}


@dataclass(frozen=True, slots=True)
class TurnSummary:
    """The facts under an answer. None means not known (a cancelled stream has no usage, for instance)."""

    status: TurnStatus
    served_by: str | None = None
    fallbacks: tuple[str, ...] = ()
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    reason: str = ""
    usage_estimated: bool = False
    """The server sent no usage: the tokens (and a tokens/s made from them) were counted by llmdeck."""

    def to_meta(self) -> dict[str, object]:
        """For the ledger message's meta, so a reloaded session shows the same line."""
        meta = asdict(self)
        meta["fallbacks"] = list(self.fallbacks)
        return meta

    @classmethod
    def from_meta(cls, meta: dict[str, object], status: TurnStatus) -> TurnSummary:
        def number(key: str) -> float | None:
            value = meta.get(key)
            return float(value) if isinstance(value, int | float) else None

        def count(key: str) -> int | None:
            value = meta.get(key)
            return int(value) if isinstance(value, int | float) else None

        served, fallbacks = meta.get("served_by"), meta.get("fallbacks")
        return cls(
            status=status, served_by=served if isinstance(served, str) else None,
            fallbacks=tuple(str(f) for f in fallbacks) if isinstance(fallbacks, list) else (),
            ttft_ms=number("ttft_ms"), tokens_per_s=number("tokens_per_s"), prompt_tokens=count("prompt_tokens"),
            completion_tokens=count("completion_tokens"), cost_usd=number("cost_usd"),
            reason=str(meta.get("reason") or ""), usage_estimated=meta.get("usage_estimated") is True,
        )


def summarize(run: ChatRun, status: TurnStatus, reason: str = "") -> TurnSummary:
    """Read a finished (or broken, or cancelled) run into a summary."""
    routed = run.routed
    attempts = routed.attempts
    served = routed.served_by
    serving = f"{served.provider}/{served.model}" if served else _spoke_last(attempts)
    usage = routed.usage
    return TurnSummary(
        status=status, served_by=serving, fallbacks=fallbacks_taken(attempts, serving),
        ttft_ms=routed.ttft_ms, tokens_per_s=_tokens_per_s(run),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cost_usd=run.cost_usd if served or usage else None, reason=reason,
        usage_estimated=bool(usage and usage.estimated),
    )


def _spoke_last(attempts: list[Attempt]) -> str | None:
    """The hop whose text is on screen when no hop finished (a cut or cancelled stream)."""
    for attempt in reversed(attempts):
        if attempt.ttft_ms is not None:
            return f"{attempt.provider}/{attempt.model}"
    return None


def fallbacks_taken(attempts: list[Attempt], serving: str | None) -> tuple[str, ...]:
    """Each hop that failed or was skipped before the answer, repeated tries folded into ×N."""
    folded: list[tuple[str, int]] = []
    for attempt in attempts:
        where = f"{attempt.provider}/{attempt.model}"
        if attempt.outcome == "ok" or (where == serving and attempt.outcome in ("broken", "cancelled")):
            continue
        what = f"{where} skipped ({attempt.reason})" if attempt.outcome == "skipped" else \
            f"{where} {attempt.error_kind or attempt.outcome}"
        if folded and folded[-1][0] == what:
            folded[-1] = (what, folded[-1][1] + 1)
        else:
            folded.append((what, 1))
    return tuple(what if times == 1 else f"{what} ×{times}" for what, times in folded)


def _tokens_per_s(run: ChatRun) -> float | None:
    routed = run.routed
    if routed.timings is not None and routed.timings.tokens_per_s:
        return routed.timings.tokens_per_s  # the server's own measure, when it gives one
    tokens = routed.usage.completion_tokens if routed.usage else 0
    if tokens < 2 or routed.ttft_ms is None or routed.total_ms is None:
        return None
    generating_s = (routed.total_ms - routed.ttft_ms) / 1000.0
    return (tokens - 1) / generating_s if generating_s > 0 else None


def footer_line(summary: TurnSummary) -> str:
    """`served by P/M · fallbacks: … · TTFT 120 ms · 45.0 tok/s · 12+87 tokens · $0.0012`; counts llmdeck made
    because the server sent none read `~45.0 tok/s · ~12+87 tokens (est.)`."""
    parts = [f"served by {summary.served_by}" if summary.served_by else "not served"]
    if summary.fallbacks:
        parts.append("fallbacks: " + ", ".join(summary.fallbacks))
    parts.append(f"TTFT {summary.ttft_ms:.0f} ms" if summary.ttft_ms is not None else "TTFT —")
    about = "~" if summary.usage_estimated else ""
    parts.append(f"{about}{summary.tokens_per_s:.1f} tok/s" if summary.tokens_per_s is not None else "— tok/s")
    if summary.completion_tokens is not None:
        parts.append(f"{about}{summary.prompt_tokens or 0}+{summary.completion_tokens} tokens"
                     + (" (est.)" if summary.usage_estimated else ""))
    else:
        parts.append("tokens —")
    parts.append(format_cost(summary.cost_usd))
    return " · ".join(parts)


def status_line(summary: TurnSummary) -> str:
    """The mark of an answer that did not complete ("✂ cut: …"); empty for a complete one."""
    mark = _STATUS_MARKS.get(summary.status)
    if mark is None:
        return ""
    return f"{mark}: {summary.reason}" if summary.reason else mark


def format_cost(cost_usd: float | None) -> str:
    if cost_usd is None:
        return "cost —"
    if cost_usd == 0:
        return "$0"
    return f"${cost_usd:.4f}" if cost_usd >= 0.0001 else f"${cost_usd:.6f}"
