"""Adaptive mode (``--target-fps`` / ``--cpu-budget``): pick the inference interval and input scale.

Carry-forward makes inference optional on any one frame, so when the machine cannot keep up (output
below the target frame rate, or the process over its CPU budget) rtseg infers less often, then on a
smaller image, instead of dropping camera frames. When there is room again it steps back. The
decision is the pure function :func:`choose` of measured rates; :class:`AdaptiveLoop` measures every
``period_s`` and applies the choice to the live segment stage. Inference CPU is estimated from the
measured time per inference, so a step up is only taken when the predicted cost fits.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rtseg.graph.stage import OwnThread, Worker

SCALES = (1.0, 0.75, 0.5)
"""Input scales, largest first, tried after the inference interval reaches its maximum."""
FPS_TOLERANCE = 0.03
"""Output may be this fraction below the target before adaptive mode steps down."""
HEADROOM = 0.85
SCALE_UP_CPU = 0.7
"""A step up must keep the predicted CPU under this fraction of the budget (or of the machine);
a larger scale (whose cost is not predicted) needs the measured CPU under ``SCALE_UP_CPU`` of it."""
MAX_INTERVAL = 8
"""The most frames per inference adaptive mode chooses before it makes the model's input smaller instead
(the job key ``schedule.max_interval``'s default)."""
PERIOD_S = 2.0
"""Seconds between adaptive mode's measurements and decisions (``schedule.adaptive_period_s``'s default)."""


@dataclass(frozen=True)
class Measured:
    """What the last period measured."""

    output_fps: float
    source_fps: float
    """The camera's frame rate (the output cannot exceed it)."""
    cpu_percent: float
    """Process CPU time over wall time (100 = one core)."""
    infer_s: float
    """Typical seconds per inference (0 when none ran)."""


@dataclass(frozen=True)
class AdaptiveTarget:
    fps: float | None = None
    cpu_percent: float | None = None
    max_interval: int = MAX_INTERVAL
    scales: tuple[float, ...] = SCALES
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass(frozen=True)
class AdaptiveChoice:
    """Infer at most every ``interval``-th frame, on the frame scaled by ``scale``."""

    interval: int = 1
    scale: float = 1.0
    reason: str = "start"


def _infer_cpu(m: Measured, interval: int) -> float:
    """Predicted CPU percent of inference at ``interval`` (inference never runs faster than its time)."""
    if m.infer_s <= 0 or m.source_fps <= 0:
        return 0.0
    rate = min(m.source_fps / interval, 1.0 / m.infer_s)
    return 100.0 * m.infer_s * rate


def choose(m: Measured, target: AdaptiveTarget, current: AdaptiveChoice) -> AdaptiveChoice:
    """The next choice after measuring ``m`` with ``current`` in force.

    Behind (output fps below the target, or CPU over the budget): double the interval up to
    ``max_interval``, then lower the scale. Comfortable (on target, and the predicted CPU of the
    step up fits under ``HEADROOM`` of the budget, or of the machine without a budget): raise the
    scale first, then halve the interval. Otherwise keep.

    >>> t = AdaptiveTarget(fps=30, cpus=2)
    >>> choose(Measured(22.0, 30.0, 190.0, 0.05), t, AdaptiveChoice()).interval
    2
    >>> choose(Measured(30.0, 30.0, 60.0, 0.01), t, AdaptiveChoice(interval=2)).interval
    1
    """
    fps_goal = None
    if target.fps is not None:
        fps_goal = min(target.fps, m.source_fps) if m.source_fps > 0 else target.fps
    behind_fps = fps_goal is not None and m.output_fps < fps_goal * (1 - FPS_TOLERANCE)
    over_cpu = target.cpu_percent is not None and m.cpu_percent > target.cpu_percent
    scales = sorted(target.scales, reverse=True)
    if behind_fps or over_cpu:
        why = (f"output {m.output_fps:.1f} fps < target {fps_goal:.1f}" if behind_fps
               else f"cpu {m.cpu_percent:.0f}% > budget {target.cpu_percent:.0f}%")
        if current.interval < target.max_interval:
            return AdaptiveChoice(min(target.max_interval, current.interval * 2), current.scale, why)
        smaller = [s for s in scales if s < current.scale]
        if smaller:
            return AdaptiveChoice(current.interval, smaller[0], why)
        return replace(current, reason=why + " (at the limits)")
    budget = target.cpu_percent if target.cpu_percent is not None else 100.0 * target.cpus
    larger = [s for s in scales if s > current.scale]
    if larger and m.cpu_percent <= SCALE_UP_CPU * budget:
        return AdaptiveChoice(current.interval, larger[-1], f"room: cpu {m.cpu_percent:.0f}%")
    if current.interval > 1:
        step = max(1, current.interval // 2)
        predicted = m.cpu_percent + _infer_cpu(m, step) - _infer_cpu(m, current.interval)
        if predicted <= HEADROOM * budget:
            return AdaptiveChoice(step, current.scale, f"room: predicted cpu {predicted:.0f}%")
    return replace(current, reason="steady")


class AdaptiveLoop:
    """Every ``period_s``: measure, :func:`choose`, apply; keeps the history for the stats.

    ``measure`` returns the period's :class:`Measured`, or None while there is nothing to judge yet
    (the model still loading, no frame out); ``apply`` puts a choice into effect.
    """

    def __init__(self, target: AdaptiveTarget, measure: Callable[[], Measured | None],
                 apply: Callable[[AdaptiveChoice], None], *, period_s: float = PERIOD_S) -> None:
        self.target = target
        self.measure = measure
        self.apply = apply
        self.period_s = period_s
        self.choice = AdaptiveChoice()
        self.history: list[dict[str, Any]] = []
        self._own = OwnThread(self.worker())
        self._t0 = 0.0

    def step(self) -> AdaptiveChoice:
        measured = self.measure()
        if measured is None:
            return self.choice
        new = choose(measured, self.target, self.choice)
        if (new.interval, new.scale) != (self.choice.interval, self.choice.scale):
            self.apply(new)
            self.history.append({"t_s": round(time.perf_counter() - self._t0, 2), **asdict(new),
                                 "measured": {k: round(v, 3) for k, v in asdict(measured).items()}})
        self.choice = new
        return new

    def run(self, stop: threading.Event) -> None:
        """Apply the starting choice, then step every ``period_s`` until ``stop`` is set."""
        self._t0 = time.perf_counter()
        self.apply(self.choice)
        while not stop.wait(self.period_s):
            self.step()

    def worker(self) -> Worker:
        """The loop as a worker for the pipeline to own (the live builder hands it over)."""
        return Worker("adaptive", self.run)

    def start(self) -> None:
        """Run the loop in a thread of this object's own (outside a pipeline); :meth:`stop` joins it."""
        self._own.start()

    def stop(self) -> None:
        self._own.stop()

    def to_json(self) -> dict[str, Any]:
        return {"target_fps": self.target.fps, "cpu_budget": self.target.cpu_percent,
                "period_s": self.period_s, "max_interval": self.target.max_interval,
                "choice": {"interval": self.choice.interval, "scale": self.choice.scale,
                           "reason": self.choice.reason},
                "changes": self.history}
