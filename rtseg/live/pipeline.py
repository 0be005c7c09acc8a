"""Build and run the live graph: camera (or real-time replay) → segment → carry → composite → sinks.

::

    source ──q──▶ segment ──────────q──▶ carry ─────────q──▶ composite ──q──▶ vcam + preview + recording
    (clock)        │ ▲ newest mask       (mask moved to        (effect from the hotkey state)
                   ▼ │                    this frame by flow)
            flow limiter → inference worker (one frame in flight; selfie or SAM 2)

Every queue is drop-oldest with room for ``flow.queue_size`` frames (2), so nothing buffers more
than a frame or two and latency stays bounded when something is slow.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.errors import ConfigError
from rtseg.frame import Frame
from rtseg.graph import Pipeline, RunStats, SinkStage, SourceStage
from rtseg.graph.pipeline import OutputCallback
from rtseg.graph.stats import percentiles_ms, process_cpu_seconds
from rtseg.live.adaptive import AdaptiveChoice, AdaptiveLoop, AdaptiveTarget, Measured
from rtseg.live.config import EffectMode, LiveConfig
from rtseg.live.hotkeys import LiveControls, LiveState
from rtseg.live.prompts import PromptControls
from rtseg.live.stages import FrameSegmenter, LiveCarryStage, LiveCompositeStage, LiveSegmentStage
from rtseg.live.status import LiveMeter, StatusPrinter
from rtseg.segment import Segmenter
from rtseg.sinks import NullSink, VideoFileSink
from rtseg.sinks.preview import PreviewSink
from rtseg.sinks.vcam import CameraFactory, VcamOptions, VirtualCameraSink
from rtseg.sources.camera import CameraOptions, CameraSource, CaptureFactory
from rtseg.sources.realtime import RealtimeSource
from rtseg.temporal.stage import SmoothedSegmenter

log = logging.getLogger("rtseg.live")


def build_source(cfg: LiveConfig, capture_factory: CaptureFactory | None = None) -> SourceStage:
    s, duration = cfg.source, cfg.run.duration
    if s.file is not None:
        return RealtimeSource(s.file, loop=s.loop, speed=s.speed, duration_s=duration, mirror=s.mirror)
    opts = CameraOptions(device=s.device if s.device is not None else 0, width=s.width, height=s.height, fps=s.fps,
                         fourcc=s.fourcc, mirror=s.mirror, backend=s.backend, reconnect=s.reconnect,
                         retry_interval_s=s.retry_interval_s, duration_s=duration)
    return CameraSource(opts, capture_factory=capture_factory)


class LiveSession:
    """One live run, built from a :class:`LiveConfig`; ``run()`` returns the :class:`RunStats`.

    ``segmenter``, ``capture_factory`` and ``vcam_factory`` replace the model and the two devices
    (tests use a slow segmenter, a fake camera and a fake virtual camera; defaults are the real ones).

    >>> cfg = LiveConfig.model_validate({"source": {"file": "../shared/data/webcam/thoughtful-640x360.mp4",
    ...                                  "realtime": True}, "output": {"null": True}, "run": {"duration": 1}})
    >>> LiveSession(cfg).run().frames_out  # doctest: +SKIP
    30
    """

    def __init__(self, cfg: LiveConfig, *, segmenter: Segmenter | FrameSegmenter | None = None,
                 capture_factory: CaptureFactory | None = None, vcam_factory: CameraFactory | None = None,
                 extra_sinks: list[SinkStage] | None = None, on_output: OutputCallback | None = None) -> None:
        self.cfg = cfg
        e = cfg.effect
        backgrounds = list(e.backgrounds)
        start = 1 if e.mode is EffectMode.REPLACE else 0
        self.controls = LiveControls(LiveState(effect_on=e.mode is not EffectMode.NONE, blur_strength=e.strength,
                                               background=start, backgrounds=len(backgrounds),
                                               mirror=cfg.source.mirror))
        self.source = build_source(cfg, capture_factory)
        src = self.source

        def size() -> tuple[int, int]:
            return int(getattr(src, "width", 0)), int(getattr(src, "height", 0))

        self.prompts = PromptControls()
        c = cfg.carry
        self.carry = LiveCarryStage(enabled=c.enabled, flow_width=c.flow_width, mask_width=c.mask_width,
                                    blend_frames=c.blend_frames, history=c.history)
        self.segment = LiveSegmentStage(segmenter or self._segmenter(), max_wait_s=cfg.max_wait_s,
                                        max_in_queue=cfg.flow.max_in_queue, warmup_size=size,
                                        prepare=self.carry.prepare)
        self.composite = LiveCompositeStage(
            self.controls, backgrounds=backgrounds, halo_free=e.halo_free,
            fail_closed_s=None if e.fail_closed_ms is None else e.fail_closed_ms / 1000)
        self.sinks = self._sinks(size, vcam_factory) + list(extra_sinks or [])
        if not self.sinks:
            raise ConfigError("nothing to output: give --vcam, --preview, --record FILE or --sink null")
        self.pipeline = Pipeline(self.source, [self.segment, self.carry, self.composite],
                                 self.sinks if len(self.sinks) > 1 else self.sinks[0],
                                 queue_size=cfg.flow.queue_size, on_output=on_output, finish_on_interrupt=True)
        self.meter = LiveMeter(self.pipeline.stats, drops=self._drops_so_far,
                               skipped=lambda: self.segment.limiter.dropped)
        self.controls.subscribe(self._on_state)
        self.adaptive: AdaptiveLoop | None = None
        a = cfg.adaptive
        if a.enabled:
            scales = (1.0,) if isinstance(self.segment.segmenter, FrameSegmenter) else AdaptiveTarget().scales
            self.adaptive = AdaptiveLoop(
                AdaptiveTarget(fps=a.target_fps, cpu_percent=a.cpu_budget, max_interval=a.max_interval, scales=scales),
                self._measure, self._apply_choice, period_s=a.period_s)
        self._mark: tuple[float, int, float, int] | None = None

    def _segmenter(self) -> Segmenter | FrameSegmenter:
        m = self.cfg.model
        if m.is_sam2:
            from rtseg.live.sam2_live import Sam2LiveSegmenter

            p = self.cfg.prompt
            assert m.dir is not None
            return Sam2LiveSegmenter(m.dir, points=list(p.points), labels=p.point_labels, box=p.box,
                                     controls=self.prompts, threads=m.threads, device=m.device)
        mask = self.cfg.mask
        inner = mask.segmenter_factory(m.name, m.file, m.sha256)()
        return SmoothedSegmenter(inner, mask.smoothing_options(), mask.refine_options())

    def _measure(self) -> Measured | None:
        """Output fps, CPU and time per inference since the previous call (adaptive mode); None
        until frames come out (the first period starts at the first output frame, after warm-up)."""
        now, cpu = time.perf_counter(), process_cpu_seconds()
        frames, infers = self.pipeline.stats.frames_out, len(self.segment.infer_seconds)
        if self._mark is None:
            if frames > 0:
                self._mark = (now, frames, cpu, infers)
            return None
        t0, f0, c0, i0 = self._mark
        self._mark = (now, frames, cpu, infers)
        wall = max(1e-6, now - t0)
        recent = self.segment.infer_seconds[i0:infers] or self.segment.infer_seconds[-3:]
        infer_s = sorted(recent)[len(recent) // 2] if recent else 0.0
        fps = float(getattr(self.source, "fps", 0) or 0)
        return Measured(output_fps=(frames - f0) / wall, source_fps=fps, cpu_percent=100.0 * (cpu - c0) / wall,
                        infer_s=infer_s)

    def _apply_choice(self, choice: AdaptiveChoice) -> None:
        self.segment.interval, self.segment.scale = choice.interval, choice.scale
        log.info("adaptive: infer every %d frame(s) at scale %.2f (%s)", choice.interval, choice.scale,
                 choice.reason)

    def _sinks(self, size: Callable[[], tuple[int, int]], vcam_factory: CameraFactory | None) -> list[SinkStage]:
        out = self.cfg.output
        sinks: list[SinkStage] = []
        if out.vcam:
            src = self.source

            def fps() -> float:
                return float(getattr(src, "fps", None) or 30)

            sinks.append(VirtualCameraSink(VcamOptions(backend=out.vcam_backend, device=out.vcam_device,
                                                       format=out.vcam_format),
                                           size=size, fps_from=fps, camera_factory=vcam_factory))
        if out.record is not None:
            sinks.append(_RecordSink(out.record, self.source))
        if out.preview:
            sinks.append(PreviewSink(self.controls, status=self.meter_lines,
                                     prompts=self.prompts if self.cfg.model.is_sam2 else None))
        if out.null:
            sinks.append(NullSink())
        return sinks

    def meter_lines(self) -> list[str]:
        """The preview's stats overlay: fps, latency, drops, CPU, then inference rate and carry age."""
        seg, ages = self.segment, self.carry.ages
        span = time.perf_counter() - seg.t_open if seg.t_open else 0.0
        rate = seg.results / span if span > 0 else 0.0
        age = ages[-1] if ages else 0
        return [*self.meter.lines(), f"{self.segment.segmenter.name} {rate:.1f}/s   carry age {age} frames"
                                     f"{'' if self.carry.enabled else ' (held, no flow)'}"]

    def _on_state(self, state: LiveState) -> None:
        if hasattr(self.source, "mirror"):
            self.source.mirror = state.mirror
        if state.quit:
            self.pipeline.request_stop()

    def _source_drops(self) -> int:
        return int(getattr(self.source, "late_dropped", 0))

    def _drops_so_far(self) -> int:
        return sum(q.dropped for q in self.pipeline.queues) + self._source_drops()

    def request_stop(self) -> None:
        self.pipeline.request_stop()

    def run(self, *, status_stream: Any = None) -> RunStats:
        """Run until the duration ends, the source ends, ``q`` is pressed or Ctrl-C (recordings kept)."""
        if self.cfg.flow.cv_threads is not None:
            cv2.setNumThreads(self.cfg.flow.cv_threads)
        printer = (StatusPrinter(self.meter, interval_s=self.cfg.run.status_interval, stream=status_stream)
                   if self.cfg.run.status else None)
        if printer is not None:
            printer.start()
        if self.adaptive is not None:
            self.adaptive.start()
        try:
            stats = self.pipeline.run()
        finally:
            if self.adaptive is not None:
                self.adaptive.stop()
            if printer is not None:
                printer.stop()
        self._finish_stats(stats)
        if self.cfg.run.stats_json:
            stats.write_json(self.cfg.run.stats_json)
        return stats

    def _inference_stats(self, stats: RunStats) -> dict[str, Any]:
        seg = self.segment
        span = stats.duration_s or 0.0
        return {"results": seg.results, "rate_hz": round(seg.results / span, 3) if span > 0 else 0.0,
                "ms": percentiles_ms(seg.infer_seconds), "interval": seg.interval, "scale": seg.scale,
                "interval_skipped": seg.interval_skipped, "max_wait_ms": round(seg.max_wait_s * 1000, 3)}

    def _carry_stats(self) -> dict[str, Any]:
        c, carrier = self.carry, self.carry.carrier
        return {"enabled": c.enabled, "age_frames": age_percentiles(c.ages), "keys": c.keys,
                "carried_frames": c.carried_frames, "flow_width": c.options.flow_width, "mask_width": c.mask_width,
                "blend_frames": c.blend_frames, "too_old": carrier.too_old if carrier is not None else 0}

    def _finish_stats(self, stats: RunStats) -> None:
        late = self._source_drops()
        if late:
            stats.drops_by_queue["source (late)"] = late
            stats.dropped += late
        seg, comp, src = self.segment, self.composite, self.source
        stats.stage_seconds["infer"] = list(seg.infer_seconds)
        live: dict[str, Any] = {
            "segmented": seg.limiter.processed,
            "not_segmented": seg.limiter.dropped,
            "stale_masks": seg.stale_masks,
            "fail_closed_frames": comp.fail_closed_frames,
            "mask_age_ms": percentiles_ms(comp.mask_ages),
            "effect": {"mode": self.cfg.effect.mode.value, "strength": self.cfg.effect.strength,
                       "backgrounds": len(self.cfg.effect.backgrounds),
                       "fail_closed_ms": self.cfg.effect.fail_closed_ms},
            "outputs": [s.name for s in self.sinks],
            "queue_size": self.cfg.flow.queue_size,
            "max_queue_depth": max((q.max_depth for q in self.pipeline.queues), default=0),
            "inference": self._inference_stats(stats),
            "carry": self._carry_stats(),
        }
        if self.adaptive is not None:
            live["adaptive"] = self.adaptive.to_json()
        seg_model = self.segment.segmenter
        if self.cfg.model.is_sam2:
            live["sam2"] = {"model_dir": self.cfg.model.dir, "threads": self.cfg.model.threads,
                            "prompt_points": len(self.cfg.prompt.points), "clicks": len(self.prompts.state.clicks),
                            "tracked_frames": getattr(seg_model, "tracked_frames", None),
                            "clicked_frames": getattr(seg_model, "clicked_frames", None),
                            "resets": getattr(seg_model, "resets", None)}
        if isinstance(src, CameraSource):
            live["camera"] = {"device": src.options.device_label, **src.delivered, "reconnects": src.reconnects,
                              "outages": src.outages, "filler_frames": src.filler_frames}
        if isinstance(src, RealtimeSource):
            live["replay"] = {"fps": float(src.fps), "speed": src.speed, "loops": src.loops, "late_dropped": late}
        stats.extra.update({"command": "webcam", "source": self.cfg.source_label, "model": self.cfg.model.name,
                            "live": live})


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


class _RecordSink(VideoFileSink):
    """A recording of the live output; learns frame rate and time base from the opened source."""

    name = "record"

    def __init__(self, path: str, source: SourceStage) -> None:
        super().__init__(Path(path), fps=Fraction(30))
        self._source = source

    def open(self) -> None:
        fps = getattr(self._source, "fps", None)
        tb = getattr(self._source, "time_base", None)
        if fps:
            self.fps = Fraction(fps)
        self.time_base = Fraction(tb) if tb else 1 / self.fps
        super().open()

    def process(self, frame: Frame) -> None:
        stream = self._vstream
        image = frame.result
        if stream is not None and (image.shape[1], image.shape[0]) != (stream.width, stream.height):
            # A camera that came back at another resolution: keep recording at the first one.
            frame = dataclasses.replace(frame, output=cv2.resize(image, (stream.width, stream.height),
                                                                 interpolation=cv2.INTER_AREA))
        super().process(frame)
