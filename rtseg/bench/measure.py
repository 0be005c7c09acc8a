"""Measuring one run: wall time, process CPU, peak RSS, machine load; summarising repetitions."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from rtseg.graph.stats import RunStats, max_rss_mb, percentiles_ms, process_cpu_seconds


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``), so each run reports its own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak RSS since the last :func:`reset_peak_rss` (Linux ``VmHWM``), else since process start."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return max_rss_mb()


def load_average() -> float:
    """The 1-minute load average (what ``uptime`` shows first); -1 where unavailable."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return -1.0


@dataclass
class RunRecord:
    """One measured run of one implementation (rtseg or the baseline)."""

    impl: str
    rep: int
    frames_in: int
    frames_out: int
    dropped: int
    duration_s: float
    cpu_percent: float
    peak_rss_mb: float
    load_before: float
    load_after: float
    stage_seconds: dict[str, list[float]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    latency_times: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_by_thread: dict[str, float] = field(default_factory=dict)
    """CPU ms per output frame by pipeline thread, plus ``other`` and ``total`` (empty for the baseline)."""

    @property
    def fps(self) -> float:
        return self.frames_out / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def cpu_ms_per_frame(self) -> float:
        """Process CPU time per output frame: what a frame costs whatever else the machine does."""
        return 10.0 * self.cpu_percent * self.duration_s / self.frames_out if self.frames_out else 0.0

    @classmethod
    def from_stats(cls, impl: str, rep: int, stats: RunStats, peak_mb: float, load_before: float) -> RunRecord:
        return cls(impl, rep, stats.frames_in, stats.frames_out, stats.dropped, stats.duration_s,
                   stats.cpu_percent, peak_mb, load_before, load_average(),
                   {k: list(v) for k, v in stats.stage_seconds.items()}, list(stats.latencies),
                   list(stats.latency_times), {"drops_by_queue": dict(stats.drops_by_queue)},
                   stats.cpu_breakdown_ms())

    def to_json(self) -> dict[str, Any]:
        return {"rep": self.rep, "fps": round(self.fps, 3), "frames_in": self.frames_in,
                "frames_out": self.frames_out, "dropped": self.dropped, "duration_s": round(self.duration_s, 4),
                "cpu_percent": round(self.cpu_percent, 1), "cpu_ms_per_frame": round(self.cpu_ms_per_frame, 2),
                "peak_rss_mb": round(self.peak_rss_mb, 1),
                "load_before": self.load_before, "load_after": self.load_after, **self.extra}


class Meter:
    """Times a block: wall clock, process CPU (all threads) and peak RSS.

    >>> with Meter() as m:
    ...     _ = sum(range(1000))
    >>> m.wall_s >= 0 and m.peak_rss_mb > 0
    True
    """

    def __init__(self) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.peak_rss_mb = 0.0
        self.load_before = 0.0
        self.load_after = 0.0
        self.t0 = 0.0

    def __enter__(self) -> Meter:
        self.load_before = load_average()
        reset_peak_rss()
        self._c0 = process_cpu_seconds()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self.t0
        self.cpu_s = process_cpu_seconds() - self._c0
        self.peak_rss_mb = peak_rss_mb()
        self.load_after = load_average()

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


def spread(values: list[float], digits: int = 3) -> dict[str, float]:
    """Median, min and max of repeated measurements."""
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0}
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def summarise(runs: list[RunRecord]) -> dict[str, Any]:
    """The JSON summary of an implementation's measured runs.

    fps, CPU, RSS and drops are median/min/max over runs; stage costs and latency are percentiles of
    all frames of all runs pooled together.
    """
    stage_names: list[str] = []
    for r in runs:
        stage_names += [n for n in r.stage_seconds if n not in stage_names]
    stages = {}
    for name in stage_names:
        secs = [s for r in runs for s in r.stage_seconds.get(name, [])]
        pct = percentiles_ms(secs)
        stages[name] = {"p50_ms": pct["p50"], "p95_ms": pct["p95"], "p99_ms": pct["p99"],
                        "mean_ms": round(1000.0 * statistics.fmean(secs), 3) if secs else 0.0,
                        "count": len(secs)}
    return {
        "fps": spread([r.fps for r in runs]),
        "duration_s": spread([r.duration_s for r in runs], 4),
        "cpu_percent": spread([r.cpu_percent for r in runs], 1),
        "cpu_ms_per_frame": spread([r.cpu_ms_per_frame for r in runs], 2),
        "peak_rss_mb": spread([r.peak_rss_mb for r in runs], 1),
        "dropped": spread([float(r.dropped) for r in runs], 1),
        "frames_out": spread([float(r.frames_out) for r in runs], 1),
        "latency_ms": percentiles_ms([x for r in runs for x in r.latencies]),
        "stages": stages,
        "cpu_ms_by_thread": cpu_by_thread(runs),
        "load_avg": spread([r.load_before for r in runs] + [r.load_after for r in runs], 2),
        "runs": [r.to_json() for r in runs],
    }


def cpu_by_thread(runs: list[RunRecord]) -> dict[str, float]:
    """Median over runs of each thread's CPU ms per frame ("where the CPU goes"); {} without figures."""
    names: list[str] = []
    for r in runs:
        names += [n for n in r.cpu_by_thread if n not in names]
    return {n: round(statistics.median(r.cpu_by_thread.get(n, 0.0) for r in runs), 2) for n in names}


def median_run(runs: list[RunRecord]) -> RunRecord:
    """The run whose fps is the median (the lower middle one for an even count)."""
    ordered = sorted(runs, key=lambda r: r.fps)
    return ordered[(len(ordered) - 1) // 2]
