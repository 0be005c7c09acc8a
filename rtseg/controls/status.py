"""Live telemetry: the periodic one-line status on stderr and the numbers behind it."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from rtseg.graph.stage import OwnThread, Worker
from rtseg.graph.stats import RunStats, percentiles_ms, process_cpu_seconds

INTERVAL_S = 2.0
"""Seconds between status lines (the job key ``run.status_interval``'s default)."""


class LiveMeter:
    """Recent-window figures from a running pipeline's :class:`RunStats` (thread-safe reads).

    ``drops`` and ``skipped`` are callables because the counters live in the queues, the source and
    the flow limiter while the run is going.
    """

    def __init__(self, stats: RunStats, *, drops: Callable[[], int], skipped: Callable[[], int],
                 window_s: float = 2.0) -> None:
        self.stats = stats
        self.drops = drops
        self.skipped = skipped
        self.window_s = window_s
        self._cpu_mark = (time.perf_counter(), process_cpu_seconds())

    def snapshot(self) -> dict[str, float]:
        """fps and latency over the last ``window_s``, totals, and CPU since the previous snapshot."""
        now = time.perf_counter()
        with self.stats._lock:
            times = self.stats.latency_times[-600:]
            lats = self.stats.latencies[-600:]
            frames = self.stats.frames_out
            t0 = self.stats._t0
        cut = now - t0 - self.window_s
        recent = [lat for t, lat in zip(times, lats, strict=True) if t >= cut]
        span = min(self.window_s, now - t0) if now > t0 else 0.0
        lat = percentiles_ms(recent)
        wall0, cpu0 = self._cpu_mark
        cpu1 = process_cpu_seconds()
        cpu = 100.0 * (cpu1 - cpu0) / (now - wall0) if now > wall0 else 0.0
        self._cpu_mark = (now, cpu1)
        return {"frames": frames, "fps": len(recent) / span if span > 0 else 0.0, "p50_ms": lat["p50"],
                "p99_ms": lat["p99"], "dropped": self.drops(), "skipped": self.skipped(), "cpu_percent": cpu}

    def lines(self) -> list[str]:
        """The stats overlay text of the preview window."""
        s = self.snapshot()
        return [f"{s['fps']:.1f} fps   latency p50 {s['p50_ms']:.0f} ms  p99 {s['p99_ms']:.0f} ms",
                f"dropped {s['dropped']:.0f}   not segmented {s['skipped']:.0f}   cpu {s['cpu_percent']:.0f}%"]


def format_status(s: dict[str, float], elapsed_s: float) -> str:
    """One status line.

    >>> format_status({"frames": 60, "fps": 30.0, "p50_ms": 12.0, "p99_ms": 20.5, "dropped": 0,
    ...                "skipped": 1, "cpu_percent": 41.0}, 2.0)
    'live 0:02  60 frames  30.0 fps  latency p50 12.0 ms p99 20.5 ms  dropped 0  not segmented 1  cpu 41%'
    """
    m, sec = divmod(int(elapsed_s), 60)
    return (f"live {m}:{sec:02d}  {s['frames']:.0f} frames  {s['fps']:.1f} fps  latency p50 {s['p50_ms']:.1f} ms "
            f"p99 {s['p99_ms']:.1f} ms  dropped {s['dropped']:.0f}  not segmented {s['skipped']:.0f}  "
            f"cpu {s['cpu_percent']:.0f}%")


class StatusPrinter:
    """Print :func:`format_status` every ``interval_s`` to ``stream`` (stderr) while a run goes on.

    On a terminal the line is rewritten in place; otherwise one line is appended per interval.
    """

    def __init__(self, meter: LiveMeter, *, interval_s: float = INTERVAL_S, stream: TextIO | None = None) -> None:
        self.meter = meter
        self.interval_s = interval_s
        self.stream = stream or sys.stderr
        self._own = OwnThread(self.worker())
        self._t0 = 0.0
        self.lines_written = 0

    def __enter__(self) -> StatusPrinter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def worker(self) -> Worker:
        """The printer as a worker for the pipeline to own (the live builder hands it over)."""
        return Worker("status", self.run)

    def start(self) -> None:
        """Print from a thread of this object's own (outside a pipeline); :meth:`stop` joins it."""
        self._own.start()

    def run(self, stop: threading.Event) -> None:
        """Print a line every ``interval_s`` until ``stop`` is set."""
        self._t0 = time.perf_counter()
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        while not stop.wait(self.interval_s):
            line = format_status(self.meter.snapshot(), time.perf_counter() - self._t0)
            self.stream.write(f"\r{line}\x1b[K" if tty else f"{line}\n")
            self.stream.flush()
            self.lines_written += 1
        if tty and self.lines_written:
            self.stream.write("\n")
            self.stream.flush()

    def stop(self) -> None:
        self._own.stop()
