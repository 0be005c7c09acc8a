"""The builder: :func:`build` is the only place a :class:`~rtseg.jobs.spec.JobSpec` becomes stages.

::

    source ──q──▶ segment[schedule] ──q──▶ mask ──q──▶ carry ──q──▶ composite[effect] ──q──▶ sinks

Files: the segment stage runs every K-th frame in order, the mask stage smooths and refines at the
frame's size, the carry stage (K > 1) moves the newest mask onto the frames between. Live: the
segment stage runs the newest frame behind a flow limiter in a worker the pipeline owns (with the
mask path inside the worker), the carry stage moves the newest mask onto every frame, and the
composite's effect is switchable by the preview's hotkeys. Devices (camera, virtual camera) and the
model can be replaced through :class:`Devices` (tests); everything else is the real thing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.controls.adaptive import AdaptiveChoice, AdaptiveLoop, AdaptiveTarget, Measured
from rtseg.controls.hotkeys import LiveControls, LiveState
from rtseg.controls.prompts import CLEAR_KEYS, PromptControls, draw_clicks
from rtseg.controls.status import LiveMeter, StatusPrinter
from rtseg.effects import (
    BlurEffect,
    CompositeStage,
    CutoutEffect,
    Effect,
    MissingMask,
    OverlayEffect,
    ReplaceEffect,
    SwitchableEffect,
    parse_colour,
)
from rtseg.effects.blur import privacy_strength
from rtseg.frame import Frame
from rtseg.graph import Pipeline, ProcessStage, RunStats, SinkStage, SourceStage, Worker
from rtseg.graph.pipeline import OutputCallback, StartCallback
from rtseg.graph.stats import percentiles_ms, process_cpu_seconds
from rtseg.jobs.models import ModelCache
from rtseg.jobs.outputs import OutputKind
from rtseg.jobs.paths import check_files
from rtseg.jobs.segmenters import (
    MaskedSegmenter,
    model_options,
    production_segmenter,
    refine_options,
    smoothing_options,
    uses_mask_path,
)
from rtseg.jobs.spec import EffectKind, JobSpec, SchedulePolicy
from rtseg.segment.base import EveryKth, NewestFrame, Promptable, Segmenter
from rtseg.segment.gate import ChangeGate, GateOptions
from rtseg.segment.registry import create_segmenter
from rtseg.segment.stage import SegmentStage
from rtseg.sinks import EncoderSettings, MaskSink, NullSink, ObjectFilesSink, PngFolderSink, VideoFileSink
from rtseg.sinks.preview import PreviewSink, draw_overlay
from rtseg.sinks.vcam import CameraFactory, VcamFormat, VcamOptions, VirtualCameraSink
from rtseg.sources import open_source, resolve_input
from rtseg.sources.camera import CameraBackend, CameraOptions, CameraSource, CaptureFactory
from rtseg.sources.realtime import RealtimeSource
from rtseg.temporal.carry import CarryOptions
from rtseg.temporal.stage import CarryStage, MaskStage

log = logging.getLogger("rtseg.live")

FILE_QUEUE = 4
LIVE_QUEUE = 2
RECORD_QUEUE = 30


@dataclass
class Devices:
    """The device boundary, for tests and embedding apps: what replaces the camera, the virtual
    camera or the model. Defaults are the real ones."""

    capture_factory: CaptureFactory | None = None
    vcam_factory: CameraFactory | None = None
    segmenter: Segmenter | None = None
    extra_sinks: list[SinkStage] = field(default_factory=list)
    models: ModelCache | None = None
    """Loaded models kept between jobs (a batch worker); the job's model is taken from here."""


class JobPipeline(Pipeline):
    """A :class:`~rtseg.graph.Pipeline` built from a spec, with the parts its stats and controls need.

    ``run()`` also adds the job's figures to the stats (``command``, ``input``, ``model``, and for live
    runs the ``live`` section) and writes ``run.stats_json``.
    """

    spec: JobSpec
    segment: SegmentStage
    carry: CarryStage | None
    composite: CompositeStage | None
    live_controls: LiveControls | None
    prompts: PromptControls | None
    adaptive: AdaptiveLoop | None
    meter_lines: Callable[[], list[str]]
    """Live: the preview's stats overlay (fps, latency, drops, CPU, inference rate, carry age); [] otherwise."""

    def run(self) -> RunStats:
        threads = self.spec.run.cv_threads if self.spec.run.cv_threads is not None else (1 if self.spec.live else None)
        previous = cv2.getNumThreads()
        if threads is not None:
            cv2.setNumThreads(threads)
        try:
            stats = super().run()
        finally:
            if threads is not None:
                cv2.setNumThreads(previous)
        finish_stats(self, stats)
        if self.spec.run.stats_json:
            stats.write_json(self.spec.run.stats_json)
        return stats


# -- parts -------------------------------------------------------------------------------------------


def build_source(spec: JobSpec, devices: Devices) -> SourceStage:
    s, duration = spec.source, spec.run.duration
    if s.camera is not None or (s.path is None and spec.live):
        opts = CameraOptions(device=s.camera if s.camera is not None else 0, width=s.width, height=s.height,
                             fps=s.fps, fourcc=s.fourcc, mirror=s.mirror, backend=CameraBackend(s.backend),
                             reconnect=s.reconnect, retry_interval_s=s.retry_interval_s, duration_s=duration)
        return CameraSource(opts, capture_factory=devices.capture_factory)
    assert s.path is not None
    if s.realtime:
        return RealtimeSource(resolve_input(s.path), loop=s.loop, speed=s.speed, duration_s=duration,
                              mirror=s.mirror, label=s.path)
    return open_source(s.path)


def encoder_settings(spec: JobSpec, path: Path, alpha: bool) -> EncoderSettings:
    settings = EncoderSettings.for_path(path, alpha=alpha)
    enc = spec.encoder
    if enc.codec:
        settings.codec = enc.codec
        if enc.codec != "libx264":
            settings.options = {}
    if enc.crf is not None:
        settings.options["crf"] = str(enc.crf)
    if enc.preset is not None:
        settings.options["preset"] = enc.preset
        # The default's x264-params tune rate control for its own preset; a chosen preset gets its own.
        settings.options.pop("x264-params", None)
    return settings


def primary_effect(spec: JobSpec) -> Effect | None:
    e, kind = spec.effect, spec.effective_effect
    if kind is EffectKind.BLUR or (kind is EffectKind.REPLACE and spec.live):
        return BlurEffect(strength=e.strength, halo_free=e.halo_free)
    if kind is EffectKind.REPLACE:
        return ReplaceEffect(e.backgrounds[0], light_wrap=e.light_wrap)
    if kind is EffectKind.CUTOUT:
        return CutoutEffect()
    if kind is EffectKind.OVERLAY:
        colour = parse_colour(e.overlay_colour)
        assert colour is not None  # validated by the spec
        return OverlayEffect(colour, e.overlay_opacity)
    return None


def build_sinks(spec: JobSpec, devices: Devices, live: _Live | None) -> list[SinkStage]:
    sinks: list[SinkStage] = []
    alpha = spec.effective_effect is EffectKind.CUTOUT
    objects: dict[str, str] = {}
    for out in spec.outputs:
        path = out.path
        if out.kind in (OutputKind.VIDEO, OutputKind.RECORD):
            assert path is not None
            video = VideoFileSink(path, settings=encoder_settings(spec, Path(path), alpha), alpha=alpha,
                                  audio=not spec.live)
            if spec.live:
                # A recording has room for a second of frames, and a failure ends the recording
                # (one line) but not the virtual camera.
                video.name, video.queue_size, video.optional = "record", RECORD_QUEUE, True
            sinks.append(video)
        elif out.kind is OutputKind.IMAGES:
            assert path is not None
            sinks.append(PngFolderSink(path))
        elif out.kind is OutputKind.MASKS:
            assert path is not None
            sinks.append(MaskSink(path))
        elif out.kind in (OutputKind.RLE, OutputKind.LOGITS):
            assert path is not None
            objects[out.kind.value] = path
        elif out.kind is OutputKind.VCAM:
            sinks.append(VirtualCameraSink(VcamOptions(backend=out.vcam_backend, device=out.vcam_device,
                                                       format=VcamFormat(out.vcam_format)),
                                           camera_factory=devices.vcam_factory))
        elif out.kind is OutputKind.PREVIEW:
            assert live is not None
            sinks.append(live.preview())
        elif out.kind is OutputKind.NULL:
            sinks.append(NullSink())
    if objects:
        sinks.append(ObjectFilesSink(rle=objects.get("rle"), logits=objects.get("logits")))
    return [*sinks, *devices.extra_sinks]


class _Live:
    """The live controls of one job: hotkeys, clicks, status meter, adaptive loop, and their wiring."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        e = spec.effect
        kind = spec.effective_effect
        self.controls = LiveControls(LiveState(effect_on=kind is not EffectKind.NONE, blur_strength=e.strength,
                                               background=1 if kind is EffectKind.REPLACE else 0,
                                               backgrounds=len(e.backgrounds), mirror=spec.source.mirror))
        self.prompts = PromptControls() if spec.model.tracks_objects else None
        self.pipeline: JobPipeline | None = None
        self.meter: LiveMeter | None = None
        self._mark: tuple[float, int, float, int] | None = None

    def composite(self) -> CompositeStage:
        """The composite of the live job: with hotkeys, its effect, background and blur strength (the
        fail-closed blur's too) are read from the controls' state on every frame; without, they stay the
        job's."""
        e = self.spec.effect
        primary = primary_effect(self.spec) or BlurEffect(strength=e.strength, halo_free=e.halo_free)
        effects = [primary, *(ReplaceEffect(bg) for bg in e.backgrounds)]
        privacy: float | Callable[[], float]
        if e.hotkeys:
            fx = SwitchableEffect(effects, choose=self.controls.effect_choice)
            privacy = self.privacy_strength
        else:
            state = self.controls.state
            fx = SwitchableEffect(effects, index=state.background, enabled=state.effect_on)
            privacy = privacy_strength(e.strength)
        return CompositeStage(fx, invert_alpha=e.invert, missing=MissingMask.PRIVACY, privacy_strength=privacy,
                              fail_closed_s=None if e.fail_closed_ms is None else e.fail_closed_ms / 1000)

    def privacy_strength(self) -> float:
        """The fail-closed blur's sigma now: never weaker than the hotkeys' blur strength."""
        return privacy_strength(self.controls.state.blur_strength)

    def wire(self, pipeline: JobPipeline, source: SourceStage) -> None:
        """Hotkeys switch mirror and quit (the composite reads the rest itself); the meter reads the pipeline."""
        self.pipeline = pipeline

        def on_state(state: LiveState) -> None:
            if isinstance(source, CameraSource | RealtimeSource):
                source.mirror = state.mirror
            if state.quit:
                pipeline.request_stop()

        self.controls.subscribe(on_state)
        self.meter = LiveMeter(pipeline.stats, drops=self.drops_so_far,
                               skipped=lambda: pipeline.segment.limiter.dropped)

    def drops_so_far(self) -> int:
        p = self.pipeline
        assert p is not None
        return sum(q.dropped for q in p.queues) + source_late_drops(p.source)

    def on_key(self, key: int) -> None:
        if self.prompts is not None and key >= 0 and key & 0xFF in CLEAR_KEYS:
            self.prompts.clear()
        else:
            self.controls.press(key)

    def on_mouse(self, event: int, x: int, y: int, frame: Frame) -> None:
        if self.prompts is not None:
            self.prompts.mouse(event, x, y, frame.index, frame)

    def decorate(self, image: np.ndarray) -> np.ndarray:
        if self.prompts is not None:
            image = draw_clicks(image, self.prompts.state.clicks)
        if self.controls.state.show_stats:
            from rtseg.controls.hotkeys import HELP_LINE

            help_line = HELP_LINE + ("  click: track  c clear" if self.prompts is not None else "")
            image = draw_overlay(image, [*self.meter_lines(), help_line])
        return image

    def preview(self) -> PreviewSink:
        return PreviewSink(on_key=self.on_key, on_mouse=self.on_mouse if self.prompts is not None else None,
                           decorate=self.decorate)

    def meter_lines(self) -> list[str]:
        """The preview's stats overlay: fps, latency, drops, CPU, then inference rate and carry age."""
        p = self.pipeline
        if p is None or self.meter is None:
            return []
        seg, carry = p.segment, p.carry
        span = time.perf_counter() - seg.t_open if seg.t_open else 0.0
        rate = seg.results / span if span > 0 else 0.0
        ages = carry.ages if carry is not None else []
        age = ages[-1] if ages else 0
        held = carry is not None and not carry.enabled
        return [*self.meter.lines(),
                f"{seg.segmenter.name} {rate:.1f}/s   carry age {age} frames{' (held, no flow)' if held else ''}"]

    def workers(self) -> list[Worker]:
        out: list[Worker] = []
        run = self.spec.run
        if run.status and self.meter is not None:
            out.append(StatusPrinter(self.meter, interval_s=run.status_interval).worker())
        p = self.pipeline
        if p is not None and p.adaptive is not None:
            out.append(p.adaptive.worker())
        return out

    def measure(self) -> Measured | None:
        """Output fps, CPU and time per inference since the previous call (adaptive mode); None
        until frames come out (the first period starts at the first output frame, after warm-up)."""
        p = self.pipeline
        assert p is not None
        now, cpu = time.perf_counter(), process_cpu_seconds()
        frames, infers = p.stats.frames_out, len(p.segment.infer_seconds)
        if self._mark is None:
            if frames > 0:
                self._mark = (now, frames, cpu, infers)
            return None
        t0, f0, c0, i0 = self._mark
        self._mark = (now, frames, cpu, infers)
        wall = max(1e-6, now - t0)
        recent = p.segment.infer_seconds[i0:infers] or p.segment.infer_seconds[-3:]
        infer_s = sorted(recent)[len(recent) // 2] if recent else 0.0
        fps = float(p.info.fps) if p.info is not None else 0.0
        return Measured(output_fps=(frames - f0) / wall, source_fps=fps, cpu_percent=100.0 * (cpu - c0) / wall,
                        infer_s=infer_s)

    def apply(self, choice: AdaptiveChoice) -> None:
        p = self.pipeline
        assert p is not None
        p.segment.set_rate(choice.interval, choice.scale)
        log.info("adaptive: infer every %d frame(s) at scale %.2f (%s)", choice.interval, choice.scale, choice.reason)


def source_late_drops(source: SourceStage) -> int:
    return source.late_dropped if isinstance(source, RealtimeSource) else 0


# -- the builder -------------------------------------------------------------------------------------


LIVE_GATE = 4.0
"""The change gate's default threshold for live jobs (grey levels; :mod:`rtseg.segment.gate`)."""


def change_gate(spec: JobSpec, *, live: bool) -> ChangeGate | None:
    """The spec's change gate: selfie models only (a tracker needs every frame it is given)."""
    threshold = spec.mask.gate if spec.mask.gate is not None else (LIVE_GATE if live else 0.0)
    if not threshold or not uses_mask_path(spec):
        return None
    return ChangeGate(GateOptions(threshold=threshold, max_skip=spec.mask.gate_max_skip))


def build(spec: JobSpec, *, devices: Devices | None = None, on_output: OutputCallback | None = None,
          on_start: StartCallback | None = None) -> JobPipeline:
    """Turn a checked :class:`JobSpec` into a pipeline, ready to ``run()`` or iterate with ``frames()``.

    Nothing is opened here (no input decoded, no model loaded): that happens in ``run()``.

    >>> from rtseg.jobs.spec import JobSpec
    >>> spec = JobSpec.from_dict({"command": "segment", "input": "synthetic:64x48@3", "masks": "m"}).check()
    >>> [s.name for s in build(spec).stages]
    ['segment', 'mask']
    """
    spec.check()
    check_files(spec, spec.origin)
    devices = devices or Devices()
    live = _Live(spec) if spec.live else None
    source = build_source(spec, devices)
    mask_path = devices.segmenter is None and uses_mask_path(spec)
    segmenter: Segmenter
    if devices.segmenter is not None:
        segmenter = devices.segmenter
    elif live is not None:
        segmenter = production_segmenter(spec, live.prompts)  # the mask path runs in the inference worker
    elif devices.models is not None:
        segmenter = devices.models.get(spec)
    else:
        segmenter = create_segmenter(spec.model.name, model_options(spec))
    stages: list[ProcessStage] = []
    carry: CarryStage | None = None
    c = spec.mask.carry
    if spec.policy is SchedulePolicy.NEWEST:
        carry = CarryStage(live=True, enabled=c.enabled, options=CarryOptions(flow_width=c.flow_width,
                           preset=cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST), mask_width=c.mask_width,
                           blend_frames=c.blend_frames, history=c.history)
        sched = spec.schedule
        wait = sched.max_wait_ms / 1000 if sched.max_wait_ms is not None else (
            0.0 if spec.model.tracks_objects else 0.02)
        warmup = devices.segmenter is None and not spec.model.tracks_objects
        segment = SegmentStage(segmenter, NewestFrame(wait, sched.max_in_queue, warmup), prepare=carry.prepare,
                               gate=change_gate(spec, live=True))
        stages = [segment, carry]
    else:
        k = spec.mask.infer_every
        gate = change_gate(spec, live=False)
        segment = SegmentStage(segmenter, EveryKth(k), upsample=not mask_path, gate=gate)
        stages = [segment]
        if mask_path:
            stages.append(MaskStage(smoothing_options(spec.mask), refine_options(spec.mask),
                                    pass_through_missing=k > 1 or gate is not None))
        if k > 1 or gate is not None:
            span = k * (spec.mask.gate_max_skip + 1) if gate is not None else k  # frames a mask may be carried
            carry = CarryStage(live=False, options=CarryOptions(flow_width=c.flow_width), mask_width=c.mask_width,
                               blend_frames=c.blend_frames, history=max(2, min(c.history, span + 1)))
            stages.append(carry)
    composite: CompositeStage | None = None
    if live is not None:
        composite = live.composite()
    else:
        effect = primary_effect(spec)
        if effect is not None:
            composite = CompositeStage(effect, invert_alpha=spec.effect.invert)
    if composite is not None:
        stages.append(composite)
    sinks = build_sinks(spec, devices, live)
    queue_size = spec.run.queue_size or (LIVE_QUEUE if live else FILE_QUEUE)
    pipeline = JobPipeline(source, stages, sinks, queue_size=queue_size,
                           on_output=on_output, on_start=on_start, finish_on_interrupt=live is not None)
    pipeline.spec, pipeline.segment, pipeline.carry, pipeline.composite = spec, segment, carry, composite
    pipeline.live_controls = live.controls if live is not None else None
    pipeline.prompts = live.prompts if live is not None else None
    pipeline.adaptive = None
    pipeline.meter_lines = live.meter_lines if live is not None else list
    if live is not None:
        s = spec.schedule
        if s.target_fps is not None or s.cpu_budget is not None:
            pipeline.adaptive = AdaptiveLoop(
                AdaptiveTarget(fps=s.target_fps, cpu_percent=s.cpu_budget, max_interval=s.max_interval,
                               scales=(1.0,) if spec.model.tracks_objects else AdaptiveTarget().scales),
                live.measure, live.apply, period_s=s.adaptive_period_s)
        live.wire(pipeline, source)
        pipeline.add_workers(live.workers())
    return pipeline


# -- stats -------------------------------------------------------------------------------------------


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


def finish_stats(p: JobPipeline, stats: RunStats) -> None:
    """The job's own figures in the stats document (``live`` section for live runs)."""
    spec = p.spec
    stats.extra.update({"command": spec.command.value, "input": spec.source.label, "model": spec.model.name})
    seg = p.segment
    if seg.infer_seconds:
        stats.stage_seconds["infer"] = list(seg.infer_seconds)
    if p.carry is not None:
        stats.extra["carry"] = {"age_frames": age_percentiles(p.carry.ages), "keys": p.carry.keys,
                                "carried_frames": p.carry.carried_frames, "held_frames": p.carry.held_frames}
    if seg.gate is not None:
        g = seg.gate
        stats.extra["gate"] = {"threshold": g.options.threshold, "max_skip": g.options.max_skip,
                               "segmented": g.runs, "skipped": g.skipped}
    if not spec.live:
        return
    late = source_late_drops(p.source)
    if late:
        stats.drops_by_queue["source (late)"] = late
        stats.dropped += late
    comp, src = p.composite, p.source
    assert comp is not None
    span = stats.duration_s or 0.0
    carry = p.carry
    live: dict[str, Any] = {
        "segmented": seg.limiter.processed,
        "not_segmented": seg.limiter.dropped,
        "unchanged": seg.gate.skipped if seg.gate is not None else 0,
        "stale_masks": seg.stale_masks,
        "fail_closed_frames": comp.fail_closed_frames,
        "mask_age_ms": percentiles_ms(comp.mask_ages),
        "effect": {"mode": spec.effective_effect.value, "strength": spec.effect.strength,
                   "backgrounds": len(spec.effect.backgrounds), "fail_closed_ms": spec.effect.fail_closed_ms},
        "outputs": [o.kind.value for o in spec.outputs],
        "queue_size": p.queue_size,
        "max_queue_depth": max((q.max_depth for q in p.queues), default=0),
        "inference": {"results": seg.results, "rate_hz": round(seg.results / span, 3) if span > 0 else 0.0,
                      "ms": percentiles_ms(seg.infer_seconds), "interval": seg.interval, "scale": seg.scale,
                      "interval_skipped": seg.interval_skipped,
                      "max_wait_ms": round(1000 * seg.schedule.max_wait_s, 3)
                      if isinstance(seg.schedule, NewestFrame) else 0.0},
    }
    if carry is not None:
        carrier = carry.carrier
        live["carry"] = {"enabled": carry.enabled, "age_frames": age_percentiles(carry.ages), "keys": carry.keys,
                         "carried_frames": carry.carried_frames, "held_frames": carry.held_frames,
                         "flow_width": carry.options.flow_width,
                         "mask_width": carry.mask_width, "blend_frames": carry.blend_frames,
                         "too_old": carrier.too_old if carrier is not None else 0}
    if p.adaptive is not None:
        live["adaptive"] = p.adaptive.to_json()
    model = seg.segmenter
    inner = model.inner if isinstance(model, MaskedSegmenter) else model
    if isinstance(inner, Promptable):
        t = inner.tracking
        live["sam2"] = {"model_dir": spec.model.dir, "threads": spec.model.threads if spec.model.threads is not None
                        else 1, "prompt_points": sum(len(x.points) for x in spec.model.prompts),
                        "clicks": len(p.prompts.state.clicks) if p.prompts is not None else 0,
                        "tracked_frames": t.tracked_frames, "clicked_frames": t.clicked_frames, "resets": t.resets}
    if isinstance(src, CameraSource):
        live["camera"] = {"device": src.options.device_label, **src.delivered, "reconnects": src.reconnects,
                          "outages": src.outages, "filler_frames": src.filler_frames}
    if isinstance(src, RealtimeSource):
        live["replay"] = {"fps": float(src.fps), "speed": src.speed, "loops": src.loops, "late_dropped": late}
    stats.extra.update({"command": "webcam", "source": spec.source.label, "live": live})
