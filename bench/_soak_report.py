"""The soak's samples and its verdict: RSS within ±10 MB after warm-up, fds / tasks / threads flat, ledger rows =
requests made."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

RSS_GOAL_MB = 10.0
FLAT_SLACK = {"fds": 8, "tasks": 6, "threads": 2}
"""How far the second half's peak may rise over the first half's before a count is called growing: the pools
(keep-alive connections, probe tasks, worker threads) swing within a bounded range, a leak keeps climbing."""


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    rss_kb: int
    fds: int
    threads: int
    tasks: int | None  # None: not readable (another process)
    made: int
    rows: int

    def line(self, extra: str = "") -> str:
        tasks = "" if self.tasks is None else f" tasks={self.tasks:3d}"
        return (f"t={self.t:6.0f}s rss={self.rss_kb / 1024:7.1f}MB fds={self.fds:4d} threads={self.threads:3d}"
                f"{tasks} made={self.made:6d} rows={self.rows:6d}{extra}")


def status_fields(pid: int | str = "self") -> tuple[int, int]:
    """(VmRSS in kB, Threads) from /proc/PID/status."""
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss, threads


def open_fds(pid: int | str = "self") -> int:
    return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


class LedgerCounter:
    """Rows of the ledger's requests table, read over a read-only connection of our own."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=30)
        # The headless part counts from inside the process it measures: SQLite's default page cache (2 MiB)
        # would fill as count(*) reads the growing table, RSS of the harness, not of the deck.
        self._conn.execute("PRAGMA cache_size = -256")

    def rows(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM requests").fetchone()[0])

    def prompts(self) -> int:
        """User messages of chat sessions: one per turn the console saved."""
        return int(self._conn.execute("SELECT count(*) FROM messages WHERE role = 'user'").fetchone()[0])

    def by_status(self) -> dict[str, int]:
        return {str(status): int(count) for status, count in
                self._conn.execute("SELECT status, count(*) FROM requests GROUP BY status ORDER BY 2 DESC")}

    def close(self) -> None:
        self._conn.close()


def warmup_s(duration_s: float) -> float:
    """The first 20 % of the run or its first 60 s, whichever is longer — but never more than half of it."""
    return min(max(0.2 * duration_s, 60.0), 0.5 * duration_s)


@dataclass
class Verdict:
    title: str
    lines: list[str]
    passed: bool

    def add(self, goal: str, ok: bool, detail: str) -> None:
        self.lines.append(f"  {'PASS' if ok else 'FAIL'}  {goal}: {detail}")
        self.passed = self.passed and ok


def _flat(name: str, values: list[int], verdict: Verdict) -> None:
    half = len(values) // 2
    first, second = max(values[:half]), max(values[half:])
    verdict.add(f"{name} flat", second <= first + FLAT_SLACK[name],
                f"min {min(values)} max {max(values)}; peak {first} in the first half, {second} in the second "
                f"(slack {FLAT_SLACK[name]})")


def judge(title: str, samples: list[Sample], warm_s: float, made: int, rows: int) -> Verdict:
    """The summary lines and whether every goal passed; `made` and `rows` are the final counts."""
    verdict = Verdict(title, [f"== {title}: {len(samples)} samples, warm-up {warm_s:.0f} s excluded"], True)
    measured = [s for s in samples if s.t >= warm_s]
    if len(measured) < 4:
        verdict.add("enough samples", False, f"{len(measured)} after warm-up; run longer")
    else:
        base = measured[0].rss_kb
        deltas = [(s.rss_kb - base) / 1024 for s in measured]
        hours = (measured[-1].t - measured[0].t) / 3600
        slope = _slope([s.t for s in measured], [s.rss_kb / 1024 for s in measured]) * 3600
        verdict.add(f"RSS within ±{RSS_GOAL_MB:g} MB", max(abs(d) for d in deltas) <= RSS_GOAL_MB,
                    f"base {base / 1024:.1f} MB, min {min(deltas):+.1f} max {max(deltas):+.1f} "
                    f"drift {deltas[-1]:+.1f} MB over {hours * 60:.1f} min (trend {slope:+.1f} MB/h)")
        _flat("fds", [s.fds for s in measured], verdict)
        if measured[0].tasks is not None:
            _flat("tasks", [s.tasks or 0 for s in measured], verdict)
        _flat("threads", [s.threads for s in measured], verdict)
    verdict.add("ledger rows = requests made", rows == made,
                f"{made} made, {rows} rows" + ("" if rows == made else f" ({rows - made:+d})"))
    return verdict


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (per unit of x)."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0
