"""The builder: :func:`build` is the only place a :class:`~rtseg.jobs.spec.JobSpec` becomes stages.

::

    source ──q──▶ segment[schedule] ──q──▶ mask ──q──▶ carry ──q──▶ composite[effect] ──q──▶ sinks

Files: the segment stage runs every K-th frame in order, the mask stage smooths and refines at the
frame's size, the carry stage (K > 1) moves the newest mask onto the frames between. Live: the
segment stage runs the newest frame behind a flow limiter in a worker the pipeline owns (with the
mask path inside the worker), the carry stage moves the newest mask onto every frame, and the
composite's effect is switchable by the preview's hotkeys. Devices (camera, virtual camera) and the
model can be replaced through :class:`Overrides` (tests); everything else is the real thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rtseg.controls.adaptive import SCALES, AdaptiveTarget
from rtseg.controls.hotkeys import LiveState
from rtseg.controls.live import LiveSession, LiveSetup
from rtseg.effects import (
    BlurEffect,
    CompositeStage,
    CutoutEffect,
    Effect,
    OverlayEffect,
    ReplaceEffect,
    parse_colour,
)
from rtseg.graph import ProcessStage, SinkStage, SourceStage
from rtseg.graph.pipeline import QUEUE_SIZE, OutputCallback, StartCallback
from rtseg.jobs.models import ModelCache
from rtseg.jobs.outputs import OutputKind
from rtseg.jobs.paths import check_files
from rtseg.jobs.pipeline import JobPipeline
from rtseg.jobs.segmenters import (
    model_options,
    production_segmenter,
    refine_options,
    smoothing_options,
    uses_mask_path,
)
from rtseg.jobs.spec import EffectKind, JobSpec, SchedulePolicy
from rtseg.segment.base import EveryKth, NewestFrame, Segmenter
from rtseg.segment.gate import ChangeGate, GateOptions
from rtseg.segment.registry import create_segmenter
from rtseg.segment.stage import SegmentStage
from rtseg.sinks import EncoderSettings, MaskSink, NullSink, ObjectFilesSink, PngFolderSink, VideoFileSink
from rtseg.sinks.vcam import CameraFactory, VcamFormat, VcamOptions, VirtualCameraSink
from rtseg.sources import open_source, resolve_input
from rtseg.sources.camera import CameraBackend, CameraOptions, CameraSource, CaptureFactory
from rtseg.sources.realtime import RealtimeSource
from rtseg.temporal.carry import CarryOptions
from rtseg.temporal.stage import CarryStage, MaskStage

LIVE_QUEUE = 2
"""Frames a queue between two stages of a live job holds (a file job's: the pipeline's ``QUEUE_SIZE``)."""
RECORD_QUEUE = 30
"""Frames a live recording's own queue holds: a second of video."""


@dataclass
class Overrides:
    """What a job uses instead of what its spec would open, for tests and embedding apps: a camera, a
    virtual camera, a segmenter, extra outputs, or models kept loaded between jobs. Unset: the real ones."""

    capture_factory: CaptureFactory | None = None
    vcam_factory: CameraFactory | None = None
    segmenter: Segmenter | None = None
    extra_sinks: list[SinkStage] = field(default_factory=list)
    models: ModelCache | None = None
    """Loaded models kept between jobs (a batch worker); the job's model is taken from here."""


# -- parts -------------------------------------------------------------------------------------------


def build_source(spec: JobSpec, overrides: Overrides) -> SourceStage:
    src, duration = spec.source, spec.run.duration
    if src.camera is not None or (src.path is None and spec.live):
        opts = CameraOptions(camera=src.camera if src.camera is not None else 0, width=src.width, height=src.height,
                             fps=src.fps, fourcc=src.fourcc, mirror=src.mirror, backend=CameraBackend(src.backend),
                             reconnect=src.reconnect, retry_interval_s=src.retry_interval_s, duration_s=duration)
        return CameraSource(opts, capture_factory=overrides.capture_factory)
    assert src.path is not None
    if src.realtime:
        return RealtimeSource(resolve_input(src.path), loop=src.loop, speed=src.speed, duration_s=duration,
                              mirror=src.mirror, label=src.path)
    return open_source(src.path)


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
    effect, kind = spec.effect, spec.effective_effect
    if kind is EffectKind.BLUR or (kind is EffectKind.REPLACE and spec.live):
        return BlurEffect(strength=effect.strength, halo_free=effect.halo_free)
    if kind is EffectKind.REPLACE:
        return ReplaceEffect(effect.backgrounds[0], light_wrap=effect.light_wrap)
    if kind is EffectKind.CUTOUT:
        return CutoutEffect()
    if kind is EffectKind.OVERLAY:
        colour = parse_colour(effect.overlay_colour)
        assert colour is not None  # validated by the spec
        return OverlayEffect(colour, effect.overlay_opacity)
    return None


def build_sinks(spec: JobSpec, overrides: Overrides, live: LiveSession | None) -> list[SinkStage]:
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
                                           camera_factory=overrides.vcam_factory))
        elif out.kind is OutputKind.PREVIEW:
            assert live is not None
            sinks.append(live.preview())
        elif out.kind is OutputKind.NULL:
            sinks.append(NullSink())
    if objects:
        sinks.append(ObjectFilesSink(rle=objects.get("rle"), logits=objects.get("logits")))
    return [*sinks, *overrides.extra_sinks]


def live_setup(spec: JobSpec) -> LiveSetup:
    """What the live controls of ``spec`` start from: its effect, blur strength, background and mirror, whether
    keys and clicks work, the status line and the adaptive rate's target."""
    effect, kind, sched, run = spec.effect, spec.effective_effect, spec.schedule, spec.run
    state = LiveState(effect_on=kind is not EffectKind.NONE, blur_strength=effect.strength,
                      background=1 if kind is EffectKind.REPLACE else 0, backgrounds=len(effect.backgrounds),
                      mirror=spec.source.mirror)
    target = None
    if sched.target_fps is not None or sched.cpu_budget is not None:
        target = AdaptiveTarget(fps=sched.target_fps, cpu_percent=sched.cpu_budget, max_interval=sched.max_interval,
                                scales=(1.0,) if spec.model.tracks_objects else SCALES)
    return LiveSetup(state, hotkeys=effect.hotkeys, clicks=spec.model.tracks_objects,
                     status_interval_s=run.status_interval if run.status else None, adaptive=target,
                     adaptive_period_s=sched.adaptive_period_s)


def live_effects(spec: JobSpec) -> list[Effect]:
    """The live composite's effects: the job's (a blur when it has none), then one per replacement background."""
    effect = spec.effect
    primary = primary_effect(spec) or BlurEffect(strength=effect.strength, halo_free=effect.halo_free)
    return [primary, *(ReplaceEffect(bg) for bg in effect.backgrounds)]


# -- the builder -------------------------------------------------------------------------------------


LIVE_GATE = GateOptions.threshold
"""The change gate's threshold for live jobs when ``mask.gate`` is unset: the gate's own default (grey levels;
:mod:`rtseg.segment.gate`); files run it only when asked."""


def change_gate(spec: JobSpec, *, live: bool) -> ChangeGate | None:
    """The spec's change gate: selfie models only (a tracker needs every frame it is given)."""
    threshold = spec.mask.gate if spec.mask.gate is not None else (LIVE_GATE if live else 0.0)
    if not threshold or not uses_mask_path(spec):
        return None
    return ChangeGate(GateOptions(threshold=threshold, max_skip=spec.mask.gate_max_skip))


def build(spec: JobSpec, *, overrides: Overrides | None = None, on_output: OutputCallback | None = None,
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
    overrides = overrides or Overrides()
    live = LiveSession(live_setup(spec)) if spec.live else None
    source = build_source(spec, overrides)
    mask_path = overrides.segmenter is None and uses_mask_path(spec)
    segmenter: Segmenter
    if overrides.segmenter is not None:
        segmenter = overrides.segmenter
    elif live is not None:
        segmenter = production_segmenter(spec, live.prompts)  # the mask path runs in the inference worker
    elif overrides.models is not None:
        segmenter = overrides.models.get(spec)
    else:
        segmenter = create_segmenter(spec.model.name, model_options(spec))
    stages: list[ProcessStage] = []
    carry: CarryStage | None = None
    carry_spec = spec.mask.carry
    if spec.policy is SchedulePolicy.NEWEST:
        carry = CarryStage(live=True, enabled=carry_spec.enabled,
                           options=CarryOptions(flow_width=carry_spec.flow_width), mask_width=carry_spec.mask_width,
                           blend_frames=carry_spec.blend_frames, history=carry_spec.history)
        sched = spec.schedule
        wait = sched.max_wait_ms / 1000 if sched.max_wait_ms is not None else (
            0.0 if spec.model.tracks_objects else NewestFrame.max_wait_s)
        warmup = overrides.segmenter is None and not spec.model.tracks_objects
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
            carry = CarryStage(live=False, options=CarryOptions(flow_width=carry_spec.flow_width),
                               mask_width=carry_spec.mask_width, blend_frames=carry_spec.blend_frames,
                               history=max(2, min(carry_spec.history, span + 1)))
            stages.append(carry)
    composite: CompositeStage | None = None
    if live is not None:
        fail_closed_ms = spec.effect.fail_closed_ms
        composite = live.composite(live_effects(spec), invert_alpha=spec.effect.invert,
                                   fail_closed_s=None if fail_closed_ms is None else fail_closed_ms / 1000)
    else:
        effect = primary_effect(spec)
        if effect is not None:
            composite = CompositeStage(effect, invert_alpha=spec.effect.invert)
    if composite is not None:
        stages.append(composite)
    sinks = build_sinks(spec, overrides, live)
    queue_size = spec.run.queue_size or (LIVE_QUEUE if live else QUEUE_SIZE)
    pipeline = JobPipeline(spec, source, stages, sinks, segment=segment, carry=carry, composite=composite, live=live,
                           queue_size=queue_size, on_output=on_output, on_start=on_start)
    if live is not None:
        live.attach(pipeline, segment, carry)
    return pipeline
