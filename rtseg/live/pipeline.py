"""Build and run the live graph: camera (or real-time replay) → segment → composite → sinks.

::

    source ──q──▶ segment ─────────────q──▶ composite ──q──▶ vcam + preview + recording
    (clock)        │ ▲ newest mask            (effect from the hotkey state)
                   ▼ │
            flow limiter → inference worker (one frame in flight)

Every queue is drop-oldest with room for ``flow.queue_size`` frames (2), so nothing buffers more
than a frame or two and latency stays bounded when something is slow.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2

from rtseg.errors import ConfigError
from rtseg.frame import Frame
from rtseg.graph import Pipeline, RunStats, SinkStage, SourceStage
from rtseg.graph.pipeline import OutputCallback
from rtseg.graph.stats import percentiles_ms
from rtseg.live.config import EffectMode, LiveConfig
from rtseg.live.hotkeys import LiveControls, LiveState
from rtseg.live.stages import LiveCompositeStage, LiveSegmentStage
from rtseg.live.status import LiveMeter, StatusPrinter
from rtseg.segment import Segmenter, create_segmenter
from rtseg.sinks import NullSink, VideoFileSink
from rtseg.sinks.preview import PreviewSink
from rtseg.sinks.vcam import CameraFactory, VcamOptions, VirtualCameraSink
from rtseg.sources.camera import CameraOptions, CameraSource, CaptureFactory
from rtseg.sources.realtime import RealtimeSource

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

    def __init__(self, cfg: LiveConfig, *, segmenter: Segmenter | None = None,
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

        self.segment = LiveSegmentStage(
            segmenter or create_segmenter(cfg.model.name, cfg.model.file, cfg.model.sha256),
            max_wait_s=cfg.flow.max_wait_ms / 1000, max_in_queue=cfg.flow.max_in_queue, warmup_size=size)
        self.composite = LiveCompositeStage(
            self.controls, backgrounds=backgrounds, halo_free=e.halo_free,
            fail_closed_s=None if e.fail_closed_ms is None else e.fail_closed_ms / 1000)
        self.sinks = self._sinks(size, vcam_factory) + list(extra_sinks or [])
        if not self.sinks:
            raise ConfigError("nothing to output: give --vcam, --preview, --record FILE or --sink null")
        self.pipeline = Pipeline(self.source, [self.segment, self.composite],
                                 self.sinks if len(self.sinks) > 1 else self.sinks[0],
                                 queue_size=cfg.flow.queue_size, on_output=on_output, finish_on_interrupt=True)
        self.meter = LiveMeter(self.pipeline.stats, drops=self._drops_so_far,
                               skipped=lambda: self.segment.limiter.dropped)
        self.controls.subscribe(self._on_state)

    def _sinks(self, size: Callable[[], tuple[int, int]], vcam_factory: CameraFactory | None) -> list[SinkStage]:
        out, sinks = self.cfg.output, []
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
            sinks.append(PreviewSink(self.controls, status=self.meter_lines))
        if out.null:
            sinks.append(NullSink())
        return sinks

    def meter_lines(self) -> list[str]:
        return self.meter.lines()

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
        try:
            stats = self.pipeline.run()
        finally:
            if printer is not None:
                printer.stop()
        self._finish_stats(stats)
        if self.cfg.run.stats_json:
            stats.write_json(self.cfg.run.stats_json)
        return stats

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
        }
        if isinstance(src, CameraSource):
            live["camera"] = {"device": src.options.device_label, **src.delivered, "reconnects": src.reconnects,
                              "outages": src.outages, "filler_frames": src.filler_frames}
        if isinstance(src, RealtimeSource):
            live["replay"] = {"fps": float(src.fps), "speed": src.speed, "loops": src.loops, "late_dropped": late}
        stats.extra.update({"command": "webcam", "source": self.cfg.source_label, "model": self.cfg.model.name,
                            "live": live})


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
