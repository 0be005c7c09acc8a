"""A job's pipeline and what its run reports: :class:`JobPipeline` (built by :func:`rtseg.jobs.build.build`)
adds the job's figures to the run's stats (:func:`finish_stats`) and writes ``run.stats_json``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from rtseg.controls.adaptive import AdaptiveLoop
from rtseg.controls.hotkeys import LiveControls
from rtseg.controls.live import LiveSession, late_drops
from rtseg.controls.prompts import PromptControls
from rtseg.effects import CompositeStage
from rtseg.graph import Pipeline, ProcessStage, RunStats, SinkStage, SourceStage
from rtseg.graph.pipeline import OutputCallback, StartCallback
from rtseg.graph.stats import percentiles_ms
from rtseg.jobs.segmenters import MaskedSegmenter, model_threads
from rtseg.jobs.spec import JobSpec
from rtseg.segment.base import NewestFrame, Promptable
from rtseg.segment.stage import SegmentStage
from rtseg.sources.camera import CameraSource
from rtseg.sources.realtime import RealtimeSource
from rtseg.temporal.stage import CarryStage

LIVE_CV_THREADS = 1
"""``cv2.setNumThreads`` for a live run when ``run.cv_threads`` is unset (its stages already run in parallel)."""


class JobPipeline(Pipeline):
    """A :class:`~rtseg.graph.Pipeline` built from a spec, with the parts its stats and controls need.

    ``run()`` also adds the job's figures to the stats (``command``, ``input``, ``model``, and for live
    runs the ``live`` section) and writes ``run.stats_json``.
    """

    def __init__(self, spec: JobSpec, source: SourceStage, stages: Sequence[ProcessStage], sinks: Sequence[SinkStage],
                 *, segment: SegmentStage, carry: CarryStage | None, composite: CompositeStage | None,
                 live: LiveSession | None, queue_size: int, on_output: OutputCallback | None = None,
                 on_start: StartCallback | None = None) -> None:
        super().__init__(source, stages, sinks, queue_size=queue_size, on_output=on_output, on_start=on_start,
                         finish_on_interrupt=live is not None)
        self.spec = spec
        self.segment = segment
        self.carry = carry
        self.composite = composite
        self.live = live
        """Live: the job's controls (hotkeys, clicks, status, adaptive rate); None for files."""

    @property
    def live_controls(self) -> LiveControls | None:
        return self.live.controls if self.live is not None else None

    @property
    def prompts(self) -> PromptControls | None:
        return self.live.prompts if self.live is not None else None

    @property
    def adaptive(self) -> AdaptiveLoop | None:
        return self.live.adaptive if self.live is not None else None

    def meter_lines(self) -> list[str]:
        """Live: the preview's stats overlay (fps, latency, drops, CPU, inference rate, carry age); [] otherwise."""
        return self.live.meter_lines() if self.live is not None else []

    def run(self) -> RunStats:
        run = self.spec.run
        threads = run.cv_threads if run.cv_threads is not None else (LIVE_CV_THREADS if self.spec.live else None)
        previous = cv2.getNumThreads()
        if threads is not None:
            cv2.setNumThreads(threads)
        try:
            stats = super().run()
        finally:
            if threads is not None:
                cv2.setNumThreads(previous)
        finish_stats(self, stats)
        if run.stats_json:
            stats.write_json(run.stats_json)
        return stats


def age_percentiles(ages: list[int]) -> dict[str, float]:
    """p50/p99/max/mean of per-frame carry ages in frames (zeros when empty).

    >>> age_percentiles([0, 0, 1, 2, 10])
    {'p50': 1.0, 'p99': 9.68, 'max': 10.0, 'mean': 2.6}
    """
    if not ages:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    arr = np.asarray(ages, dtype=np.float64)
    p50, p99 = np.percentile(arr, [50, 99])
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2), "max": float(arr.max()),
            "mean": round(float(arr.mean()), 2)}


def carry_figures(carry: CarryStage) -> dict[str, Any]:
    """What the carry stage did: the age of each frame's mask, fresh masks taken, frames moved by flow and
    frames held unmoved (the ``carry`` section; live adds its settings)."""
    return {"age_frames": age_percentiles(carry.ages), "keys": carry.keys, "carried_frames": carry.carried_frames,
            "held_frames": carry.held_frames}


def finish_stats(pipeline: JobPipeline, stats: RunStats) -> None:
    """The job's own figures in the stats document (``live`` section for live runs)."""
    spec = pipeline.spec
    stats.extra.update({"command": spec.command.value, "input": spec.source.label, "model": spec.model.name})
    seg = pipeline.segment
    if seg.infer_seconds:
        stats.stage_seconds["infer"] = list(seg.infer_seconds)
    carry = pipeline.carry
    if carry is not None:
        stats.extra["carry"] = carry_figures(carry)
    if seg.gate is not None:
        gate = seg.gate
        stats.extra["gate"] = {"threshold": gate.options.threshold, "max_skip": gate.options.max_skip,
                               "segmented": gate.runs, "skipped": gate.skipped}
    if not spec.live:
        return
    late = late_drops(pipeline.source)
    if late:
        stats.drops_by_queue["source (late)"] = late
        stats.dropped += late
    composite, src = pipeline.composite, pipeline.source
    assert composite is not None
    span = stats.duration_s or 0.0
    live: dict[str, Any] = {
        "segmented": seg.limiter.processed,
        "not_segmented": seg.limiter.dropped,
        "unchanged": seg.gate.skipped if seg.gate is not None else 0,
        "stale_masks": seg.stale_masks,
        "fail_closed_frames": composite.fail_closed_frames,
        "mask_age_ms": percentiles_ms(composite.mask_ages),
        "effect": {"mode": spec.effective_effect.value, "strength": spec.effect.strength,
                   "backgrounds": len(spec.effect.backgrounds), "fail_closed_ms": spec.effect.fail_closed_ms},
        "outputs": [o.kind.value for o in spec.outputs],
        "queue_size": pipeline.queue_size,
        "max_queue_depth": max((q.max_depth for q in pipeline.queues), default=0),
        "inference": {"results": seg.results, "rate_hz": round(seg.results / span, 3) if span > 0 else 0.0,
                      "ms": percentiles_ms(seg.infer_seconds), "interval": seg.interval, "scale": seg.scale,
                      "interval_skipped": seg.interval_skipped,
                      "max_wait_ms": round(1000 * seg.schedule.max_wait_s, 3)
                      if isinstance(seg.schedule, NewestFrame) else 0.0},
    }
    if carry is not None:
        carrier = carry.carrier
        live["carry"] = {"enabled": carry.enabled, **carry_figures(carry), "flow_width": carry.options.flow_width,
                         "mask_width": carry.mask_width, "blend_frames": carry.blend_frames,
                         "too_old": carrier.too_old if carrier is not None else 0}
    if pipeline.adaptive is not None:
        live["adaptive"] = pipeline.adaptive.to_json()
    model = seg.segmenter
    inner = model.inner if isinstance(model, MaskedSegmenter) else model
    if isinstance(inner, Promptable):
        tracking = inner.tracking
        live["sam2"] = {"model_dir": spec.model.dir, "threads": model_threads(spec),
                        "prompt_points": sum(len(x.points) for x in spec.model.prompts),
                        "clicks": len(pipeline.prompts.state.clicks) if pipeline.prompts is not None else 0,
                        "tracked_frames": tracking.tracked_frames, "clicked_frames": tracking.clicked_frames,
                        "resets": tracking.resets}
    if isinstance(src, CameraSource):
        live["camera"] = {"device": src.options.label, **src.delivered, "reconnects": src.reconnects,
                          "outages": src.outages, "filler_frames": src.filler_frames}
    if isinstance(src, RealtimeSource):
        live["replay"] = {"fps": float(src.fps), "speed": src.speed, "loops": src.loops, "late_dropped": late}
    stats.extra.update({"command": "webcam", "source": spec.source.label, "live": live})
