"""What the Graphs pane draws, read from the deck's rolling metrics into immutable values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

from providers.metrics import RollingMetrics, SeriesMetric

POINTS = 30
"""Points per line whatever the range: the step grows with the window, the cost of a redraw does not."""
TOP_PROVIDERS = 4
"""Lines per plot: the busiest providers of the window, so the legend fits one line at 80 columns."""


@dataclass(frozen=True, slots=True)
class Line:
    """One series; x is seconds relative to the newest step (≤ 0), steps without a value are left out."""

    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class GraphsView:
    window_s: float
    step_s: float
    requests: int
    shown: tuple[str, ...]
    """The providers drawn as lines, busiest first: the legend, in this order."""
    latency_p50: tuple[Line, ...]
    latency_p95: tuple[Line, ...]
    ttft_p50: tuple[Line, ...]
    tokens_per_s: tuple[Line, ...]
    requests_per_step: tuple[Line, ...]
    errors_by_kind: tuple[tuple[str, int], ...]
    cost_by_provider: tuple[tuple[str, float], ...]
    cumulative_spend: Line
    estimated: tuple[str, ...] = ()
    """Shown providers some of whose tokens llmdeck counted itself (no usage from the server): their tokens/s is
    partly an estimate, and the legend says so."""


def _line(label: str, points: list[tuple[float, float | None]]) -> Line:
    newest = points[-1][0]
    kept = [(t - newest, v) for t, v in points if v is not None]
    return Line(label, tuple(x for x, _ in kept), tuple(y for _, y in kept))


def build_view(metrics: RollingMetrics, window_s: float, *, now: float | None = None,
               keep: Callable[[str], bool] | None = None) -> GraphsView:
    """Series and totals over the last `window_s` seconds (ending at `now`, or the metrics' clock), of the
    providers `keep` accepts (all by default)."""
    step_s = window_s / POINTS
    providers = [p for p in metrics.providers() if keep is None or keep(p)]
    summaries = {p: metrics.summary(p, window_s=window_s, now=now) for p in providers}
    busiest = sorted((p for p, s in summaries.items() if s.requests), key=lambda p: (-summaries[p].requests, p))
    shown = busiest[:TOP_PROVIDERS]

    def lines(metric: SeriesMetric) -> tuple[Line, ...]:
        found = (_line(p, metrics.series(p, metric, window_s, step_s, now=now)) for p in shown)
        return tuple(line for line in found if line.xs)

    errors: dict[str, int] = {}
    for summary in summaries.values():
        for kind, count in summary.errors_by_kind.items():
            errors[kind] = errors.get(kind, 0) + count
    spend_steps: list[float] = []
    xs: tuple[float, ...] = ()
    for provider in busiest:
        points = metrics.series(provider, "cost_usd", window_s, step_s, now=now)
        xs = tuple(t - points[-1][0] for t, _ in points)
        values = [v or 0.0 for _, v in points]
        spend_steps = [a + b for a, b in zip(spend_steps, values, strict=True)] if spend_steps else values
    return GraphsView(
        window_s=window_s, step_s=step_s, requests=sum(s.requests for s in summaries.values()), shown=tuple(shown),
        latency_p50=lines("latency_p50"), latency_p95=lines("latency_p95"), ttft_p50=lines("ttft_p50"),
        tokens_per_s=lines("tokens_per_s"), requests_per_step=lines("requests"),
        errors_by_kind=tuple(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        cost_by_provider=tuple(sorted(((p, summaries[p].cost_usd) for p in busiest),
                                      key=lambda pc: (-pc[1], pc[0]))),
        cumulative_spend=Line("all providers", xs, tuple(accumulate(spend_steps))),
        estimated=tuple(p for p in shown if summaries[p].estimated_tokens),
    )


def range_label(seconds: float) -> str:
    """60 → "1m", 90 → "1m30s", 45 → "45s"."""
    minutes, rest = divmod(round(seconds), 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m{rest}s" if rest else f"{minutes}m"


def assign_colors(shown: Sequence[str], previous: Mapping[str, int], palette_size: int) -> dict[str, int]:
    """A palette index for each shown provider: the one it had before when still free, else the first index no
    other shown provider holds, so a line keeps its colour from redraw to redraw and no two lines share one."""
    kept = {p: previous[p] for p in shown if p in previous and previous[p] < palette_size}
    taken: set[int] = set()
    for provider in shown:  # busiest first: on a clash the busier line keeps its colour
        if provider in kept and kept[provider] in taken:
            del kept[provider]
        elif provider in kept:
            taken.add(kept[provider])
    for provider in shown:
        if provider not in kept:
            free = next((i for i in range(palette_size) if i not in taken), len(taken) % palette_size)
            kept[provider] = free
            taken.add(free)
    return {p: kept[p] for p in shown}
