"""What one chat turn came to (served by, fallbacks, TTFT, tokens/s, tokens, cost, how it ended) and where it is
kept. The core decides this once for every front end: the console shows it under the answer, the CLI records it,
and the Deck writes it with the request row.

Since schema 4 an answer's message is linked to its request row by `request_id`, and the row holds the tokens,
cost and TTFT; the message's meta keeps only what the row cannot say. Rows written before keep every fact in meta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from providers.errors import StreamBrokenError
from providers.ledger_schema import MessageRecord, RequestRecord, SessionDraft, TurnRow
from providers.routing import Attempt

if TYPE_CHECKING:
    from providers.chat_run import ChatRun

TurnStatus = Literal["complete", "cut", "cancelled", "failed"]
STOPPED = "stopped before the answer ended"
"""The reason of a cancelled turn whose caller gave none."""


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """Where a run's turn is kept: its prompt, and the session (an id, or a draft opened with the first turn)."""

    prompt: str
    session: int | SessionDraft


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

    def linked_meta(self) -> dict[str, object]:
        """Meta of an answer linked to its request row: only what that row does not hold."""
        return {"fallbacks": list(self.fallbacks), "tokens_per_s": self.tokens_per_s, "reason": self.reason,
                "usage_known": self.completion_tokens is not None, "cost_known": self.cost_usd is not None}

    @classmethod
    def from_message(cls, message: MessageRecord, request: RequestRecord | None) -> TurnSummary:
        """An answer's summary from the ledger: its linked request row, or (older rows) its meta alone."""
        if request is None:
            return cls.from_meta(message.meta, message.status)
        meta = message.meta
        usage = meta.get("usage_known") is True
        return cls(
            status=message.status, served_by=message.served_by, fallbacks=_strings(meta.get("fallbacks")),
            ttft_ms=request.ttft_ms, tokens_per_s=_number(meta, "tokens_per_s"),
            prompt_tokens=request.prompt_tokens if usage else None,
            completion_tokens=request.completion_tokens if usage else None,
            cost_usd=request.cost_usd if meta.get("cost_known") is True else None,
            reason=str(meta.get("reason") or ""), usage_estimated=request.usage_estimated,
        )

    @classmethod
    def from_meta(cls, meta: dict[str, object], status: TurnStatus) -> TurnSummary:
        """An answer written before schema 4, whose meta holds every fact."""
        def count(key: str) -> int | None:
            value = _number(meta, key)
            return None if value is None else int(value)

        served = meta.get("served_by")
        return cls(
            status=status, served_by=served if isinstance(served, str) else None,
            fallbacks=_strings(meta.get("fallbacks")),
            ttft_ms=_number(meta, "ttft_ms"), tokens_per_s=_number(meta, "tokens_per_s"),
            prompt_tokens=count("prompt_tokens"), completion_tokens=count("completion_tokens"),
            cost_usd=_number(meta, "cost_usd"), reason=str(meta.get("reason") or ""),
            usage_estimated=meta.get("usage_estimated") is True,
        )


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One message as a transcript shows it; an answer carries its summary."""

    role: str
    text: str
    summary: TurnSummary | None = None


def _number(meta: dict[str, object], key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def turn_status(run: ChatRun) -> TurnStatus:
    """cancelled (stopped before its end), complete, cut (failed after text was given) or failed."""
    if run.cancelled:
        return "cancelled"
    if run.error is None:
        return "complete"
    return "cut" if isinstance(run.error, StreamBrokenError) or run.text else "failed"


def summarize(run: ChatRun) -> TurnSummary:
    """Read a finished (or broken, or cancelled) run into a summary."""
    routed = run.routed
    attempts = routed.attempts
    served = routed.served_by
    serving = f"{served.provider}/{served.model}" if served else _spoke_last(attempts)
    usage = routed.usage
    status = turn_status(run)
    if status == "cancelled":
        reason = run.stop_reason or STOPPED
    elif run.error is None:
        reason = ""
    else:
        reason = run.error.message if isinstance(run.error, StreamBrokenError) else str(run.error)
    return TurnSummary(
        status=status, served_by=serving, fallbacks=fallbacks_taken(attempts, serving),
        ttft_ms=routed.ttft_ms, tokens_per_s=_tokens_per_s(run),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        cost_usd=run.cost_usd if served or usage else None, reason=reason,
        usage_estimated=bool(usage and usage.estimated),
    )


def turn_row(plan: TurnPlan, run: ChatRun, summary: TurnSummary) -> TurnRow:
    """The turn as the ledger writes it; a turn that failed before any text keeps only the prompt (the ledger's
    statuses are complete / cut / cancelled: there is no answer to mark)."""
    if summary.status == "failed":
        return TurnRow(plan.session, plan.prompt, None)
    return TurnRow(plan.session, plan.prompt, run.text, summary.status, summary.served_by, summary.linked_meta())


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
        what = f"{where} skipped: {attempt.reason}" if attempt.outcome == "skipped" else \
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
