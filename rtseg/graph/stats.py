"""Run statistics: per-stage cost, end-to-end latency, throughput, drops, CPU and memory."""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec

import numpy as np

from rtseg.errors import SinkError

P = ParamSpec("P")


def percentiles_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of a list of durations in seconds, in milliseconds (zeros when empty)."""
    if not seconds:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    arr = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "p99": round(float(p99), 3),
            "max": round(float(arr.max()), 3)}


def max_rss_mb() -> float:
    """Peak resident set size of this process in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def process_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class RunStats:
    """What a pipeline run measured. ``to_json()`` gives the stable ``--stats-json`` document."""

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    drops_by_queue: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, list[float]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    latency_times: list[float] = field(default_factory=list)
    duration_s: float = 0.0
    cpu_seconds: float = 0.0
    sink_errors: dict[str, str] = field(default_factory=dict)
    """Optional outputs that failed and ended alone (name: the error)."""
    size_changes: int = 0
    """Frames the source delivered at another size than its stream info (scaled back)."""
    thread_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each pipeline thread used (its own ``thread_time``; native threads of libraries not included)."""
    extra: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _t0: float = field(default_factory=time.perf_counter, repr=False)
    _cpu0: float = field(default_factory=process_cpu_seconds, repr=False)

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._cpu0 = process_cpu_seconds()

    def stop(self) -> None:
        self.duration_s = time.perf_counter() - self._t0
        self.cpu_seconds = process_cpu_seconds() - self._cpu0

    def cpu_accounted(self, name: str, fn: Callable[P, None]) -> Callable[P, None]:
        """``fn`` run in a thread, its CPU time added to :attr:`thread_cpu_s` under ``name`` when it ends."""
        def run(*args: P.args, **kwargs: P.kwargs) -> None:
            c0 = time.thread_time()
            try:
                fn(*args, **kwargs)
            finally:
                spent = time.thread_time() - c0
                with self._lock:
                    self.thread_cpu_s[name] = self.thread_cpu_s.get(name, 0.0) + spent
        return run

    def cpu_breakdown_ms(self) -> dict[str, float]:
        """CPU milliseconds per output frame by thread, plus ``other``: the rest of the process's CPU
        over the run (the libraries' own threads: decoder, encoder and model thread pools; the GC)."""
        n = max(1, self.frames_out)
        out = {name: round(1000.0 * s / n, 3) for name, s in self.thread_cpu_s.items()}
        out["other"] = round(max(0.0, 1000.0 * (self.cpu_seconds - sum(self.thread_cpu_s.values())) / n), 3)
        out["total"] = round(1000.0 * self.cpu_seconds / n, 3)
        return out

    def record_stage(self, name: str, seconds: float) -> None:
        with self._lock:
            self.stage_seconds.setdefault(name, []).append(seconds)

    def count_drop(self, where: str) -> None:
        with self._lock:
            self.drops_by_queue[where] = self.drops_by_queue.get(where, 0) + 1

    def record_output(self, t_in: float, t_out: float) -> None:
        with self._lock:
            self.frames_out += 1
            self.latencies.append(t_out - t_in)
            self.latency_times.append(t_out - self._t0)

    @property
    def elapsed_s(self) -> float:
        return self.duration_s or (time.perf_counter() - self._t0)

    @property
    def fps(self) -> float:
        return self.frames_out / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.cpu_seconds / self.duration_s if self.duration_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        stages = {}
        for name, secs in self.stage_seconds.items():
            pct = percentiles_ms(secs)
            stages[name] = {"p50_ms": pct["p50"], "p95_ms": pct["p95"], "p99_ms": pct["p99"],
                            "mean_ms": round(1000.0 * float(np.mean(secs)), 3), "count": len(secs)}
        doc: dict[str, Any] = {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "drops_by_queue": dict(self.drops_by_queue),
            "fps": round(self.fps, 3),
            "duration_s": round(self.duration_s, 4),
            "latency_ms": percentiles_ms(self.latencies),
            "stages": stages,
            "cpu_percent": round(self.cpu_percent, 1),
            "cpu_ms_per_frame": self.cpu_breakdown_ms() if self.duration_s > 0 else {},
            "max_rss_mb": round(max_rss_mb(), 1),
        }
        if self.size_changes:
            doc["size_changes"] = self.size_changes
        if self.sink_errors:
            doc["sink_errors"] = dict(self.sink_errors)
        doc.update(self.extra)
        return doc

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_json` atomically (temporary file, then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.stem}.rtseg-partial-{os.getpid()}{path.suffix}")
        try:
            tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            reason = "the disk is full" if exc.errno == 28 else (exc.strerror or str(exc))
            raise SinkError(f"cannot write {path}: {reason}") from exc

    def status_line(self) -> str:
        lat = percentiles_ms(self.latencies[-300:])
        return (f"{self.frames_out} frames  {self.fps:5.1f} fps  latency p50 {lat['p50']:.1f} ms "
                f"p99 {lat['p99']:.1f} ms  dropped {self.dropped}")
