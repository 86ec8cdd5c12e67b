"""The line shown under a chat answer (served by, fallbacks, TTFT, tokens/s, tokens, cost) and its end mark; the
facts themselves are the core's TurnSummary."""

from __future__ import annotations

from providers.turns import TurnStatus, TurnSummary

_STATUS_MARKS: dict[TurnStatus, str] = {"cut": "✂ cut", "cancelled": "■ cancelled", "failed": "✗ failed"}


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
