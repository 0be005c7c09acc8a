"""The live controls of one job, wired together: hotkeys, click-to-track, status line, adaptive rate and the
preview window's overlay.

The builder describes what the job asks for in a :class:`LiveSetup`, makes the composite with
:meth:`LiveSession.composite` and, once the pipeline exists, hands its parts to
:meth:`LiveSession.attach`. Nothing here knows the job model: what it needs of a job comes in the setup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rtseg.controls.adaptive import PERIOD_S, AdaptiveChoice, AdaptiveLoop, AdaptiveTarget, Measured
from rtseg.controls.hotkeys import HELP_LINE, LiveControls, LiveState
from rtseg.controls.prompts import CLEAR_KEYS, PromptControls, draw_clicks
from rtseg.controls.status import LiveMeter, StatusPrinter
from rtseg.effects import CompositeStage, Effect, MissingMask, SwitchableEffect
from rtseg.effects.blur import privacy_strength
from rtseg.frame import Frame
from rtseg.graph import Pipeline, SourceStage, Worker
from rtseg.graph.stats import process_cpu_seconds
from rtseg.segment.stage import SegmentStage
from rtseg.sinks.preview import PreviewSink, draw_overlay
from rtseg.sources.camera import CameraSource
from rtseg.sources.realtime import RealtimeSource
from rtseg.temporal.stage import CarryStage

log = logging.getLogger("rtseg.live")


@dataclass(frozen=True)
class LiveSetup:
    """What a live job asks of its controls."""

    state: LiveState
    """The hotkeys' starting state: effect on or off, blur strength, background, mirror."""
    hotkeys: bool = True
    """The preview's keys switch the effect, blur strength and background (stats, mirror and quit always work)."""
    clicks: bool = False
    """Clicks in the preview are prompts for the model (one that tracks objects)."""
    status_interval_s: float | None = None
    """Seconds between status lines on stderr (None: no status line)."""
    adaptive: AdaptiveTarget | None = None
    """The adaptive rate's target (None: the model runs at a fixed rate)."""
    adaptive_period_s: float = PERIOD_S
    """Seconds between the adaptive rate's measurements."""


class LiveSession:
    """The live controls of one job: hotkeys, clicks, status meter, adaptive loop, and their wiring.

    The hotkeys' :class:`~rtseg.controls.hotkeys.LiveState` is the one owner of what the composite shows
    (effect, background, blur strength): the composite reads it on every frame.
    """

    def __init__(self, setup: LiveSetup) -> None:
        self.setup = setup
        self.controls = LiveControls(setup.state)
        self.prompts = PromptControls() if setup.clicks else None
        self.adaptive = (AdaptiveLoop(setup.adaptive, self.measure, self.apply, period_s=setup.adaptive_period_s)
                         if setup.adaptive is not None else None)
        self.pipeline: Pipeline | None = None
        self.segment: SegmentStage | None = None
        self.carry: CarryStage | None = None
        self.meter: LiveMeter | None = None
        self._mark: tuple[float, int, float, int] | None = None

    def composite(self, effects: Sequence[Effect], *, invert_alpha: bool,
                  fail_closed_s: float | None) -> CompositeStage:
        """The live composite of ``effects`` (the job's, then one per replacement background). With hotkeys,
        the effect, background and blur strength (the fail-closed blur's too) are read from the controls'
        state on every frame; without, they stay the starting state's."""
        start = self.setup.state
        if self.setup.hotkeys:
            fx = SwitchableEffect(effects, choose=self.controls.effect_choice)
            return CompositeStage(fx, invert_alpha=invert_alpha, missing=MissingMask.PRIVACY,
                                  fail_closed_s=fail_closed_s, privacy_strength=self.privacy_strength)
        fx = SwitchableEffect(effects, index=start.background, enabled=start.effect_on)
        return CompositeStage(fx, invert_alpha=invert_alpha, missing=MissingMask.PRIVACY, fail_closed_s=fail_closed_s,
                              privacy_strength=privacy_strength(start.blur_strength))

    def privacy_strength(self) -> float:
        """The fail-closed blur's sigma now: never weaker than the hotkeys' blur strength."""
        return privacy_strength(self.controls.state.blur_strength)

    def attach(self, pipeline: Pipeline, segment: SegmentStage, carry: CarryStage | None) -> None:
        """Hotkeys switch mirror and quit on ``pipeline`` (the composite reads the rest itself); the meter
        reads it; the status line and the adaptive loop become its workers."""
        self.pipeline, self.segment, self.carry = pipeline, segment, carry
        source = pipeline.source

        def on_state(state: LiveState) -> None:
            if isinstance(source, CameraSource | RealtimeSource):
                source.mirror = state.mirror
            if state.quit:
                pipeline.request_stop()

        self.controls.subscribe(on_state)
        self.meter = LiveMeter(pipeline.stats, drops=self.drops_so_far, skipped=lambda: segment.limiter.dropped)
        workers: list[Worker] = []
        if self.setup.status_interval_s is not None:
            workers.append(StatusPrinter(self.meter, interval_s=self.setup.status_interval_s).worker())
        if self.adaptive is not None:
            workers.append(self.adaptive.worker())
        pipeline.add_workers(workers)

    def drops_so_far(self) -> int:
        pipeline = self.pipeline
        assert pipeline is not None
        return sum(q.dropped for q in pipeline.queues) + late_drops(pipeline.source)

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
            help_line = HELP_LINE + ("  click: track  c clear" if self.prompts is not None else "")
            image = draw_overlay(image, [*self.meter_lines(), help_line])
        return image

    def preview(self) -> PreviewSink:
        return PreviewSink(on_key=self.on_key, on_mouse=self.on_mouse if self.prompts is not None else None,
                           decorate=self.decorate)

    def meter_lines(self) -> list[str]:
        """The preview's stats overlay: fps, latency, drops, CPU, then inference rate and carry age."""
        seg, carry = self.segment, self.carry
        if seg is None or self.meter is None:
            return []
        span = time.perf_counter() - seg.t_open if seg.t_open else 0.0
        rate = seg.results / span if span > 0 else 0.0
        ages = carry.ages if carry is not None else []
        age = ages[-1] if ages else 0
        held = carry is not None and not carry.enabled
        return [*self.meter.lines(),
                f"{seg.segmenter.name} {rate:.1f}/s   carry age {age} frames{' (held, no flow)' if held else ''}"]

    def measure(self) -> Measured | None:
        """Output fps, CPU and time per inference since the previous call (adaptive mode); None
        until frames come out (the first period starts at the first output frame, after warm-up)."""
        pipeline, seg = self.pipeline, self.segment
        assert pipeline is not None and seg is not None
        now, cpu = time.perf_counter(), process_cpu_seconds()
        frames, infers = pipeline.stats.frames_out, len(seg.infer_seconds)
        if self._mark is None:
            if frames > 0:
                self._mark = (now, frames, cpu, infers)
            return None
        t0, f0, c0, i0 = self._mark
        self._mark = (now, frames, cpu, infers)
        wall = max(1e-6, now - t0)
        recent = seg.infer_seconds[i0:infers] or seg.infer_seconds[-3:]
        infer_s = sorted(recent)[len(recent) // 2] if recent else 0.0
        fps = float(pipeline.info.fps) if pipeline.info is not None else 0.0
        return Measured(output_fps=(frames - f0) / wall, source_fps=fps, cpu_percent=100.0 * (cpu - c0) / wall,
                        infer_s=infer_s)

    def apply(self, choice: AdaptiveChoice) -> None:
        seg = self.segment
        assert seg is not None
        seg.set_rate(choice.interval, choice.scale)
        log.info("adaptive: infer every %d frame(s) at scale %.2f (%s)", choice.interval, choice.scale, choice.reason)


def late_drops(source: SourceStage) -> int:
    """Frames a real-time replay dropped for being late (a camera or a file: 0)."""
    return source.late_dropped if isinstance(source, RealtimeSource) else 0
