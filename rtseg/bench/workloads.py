"""The benchmark workloads. Each builds rtseg exactly as the CLI does (a :class:`~rtseg.jobs.JobSpec` through
:func:`rtseg.jobs.build`), so the numbers are those of ``rtseg blur`` / ``rtseg webcam``, including any
stage the builder adds later."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.bench.baseline import BaselineMode, TutorialLoop
from rtseg.bench.inputs import ClipInfo
from rtseg.bench.measure import Meter, RunRecord, load_average, summarise
from rtseg.bench.options import BenchOptions
from rtseg.effects import BlurEffect, CutoutEffect, OverlayEffect, ReplaceEffect
from rtseg.errors import PipelineError
from rtseg.graph.stats import percentiles_ms
from rtseg.jobs import JobPipeline, JobSpec, build
from rtseg.jobs.segmenters import MaskedSegmenter
from rtseg.segment.roi import RoiSegmenter
from rtseg.segment.selfie import choose_variant
from rtseg.sources.video import VideoFileSource

RunFn = Callable[[int], RunRecord]


def blur_config(clip: ClipInfo, opts: BenchOptions, output: Path | None) -> JobSpec:
    """The job ``rtseg blur CLIP -o OUTPUT --strength S [--crf] [--preset]`` would run.

    The model is named explicitly (the variant ``selfie`` would choose for this frame size), so it
    loads in ``open()`` rather than on the first frame: neither rtseg's nor the baseline's timing
    includes model loading.
    """
    encoder = {k: v for k, v in {"crf": opts.crf, "preset": opts.preset}.items() if v is not None}
    model = f"selfie-{choose_variant(clip.width, clip.height).value}"
    return JobSpec.from_dict({
        "command": "blur" if output is not None else "segment", "source": {"path": clip.path},
        "outputs": [{"kind": "video", "path": str(output)} if output is not None else {"kind": "null"}],
        "model": {"name": model}, "effect": {"strength": opts.strength}, "encoder": encoder,
        "run": {"progress": False}}).check()


def live_config(clip: ClipInfo, opts: BenchOptions) -> JobSpec:
    """``rtseg webcam --source CLIP --realtime --blur S --sink null`` replayed at ``live_fps``."""
    model = f"selfie-{choose_variant(clip.width, clip.height).value}"
    speed = opts.live_fps / clip.fps
    # duration is media time; at ``speed`` it lasts live_seconds of wall time.
    return JobSpec.from_dict({
        "command": "webcam", "source": {"path": clip.path, "realtime": True, "loop": True, "speed": speed},
        "model": {"name": model}, "effect": {"strength": opts.strength}, "outputs": [{"kind": "null"}],
        "run": {"duration": opts.live_seconds * speed, "status": False}}).check()


def _run_pipeline(pipeline: JobPipeline, impl: str, rep: int) -> RunRecord:
    with Meter() as meter:
        stats = pipeline.run()
    rec = RunRecord.from_stats(impl, rep, stats, meter.peak_rss_mb, meter.load_before)
    rec.load_after = meter.load_after
    seg = pipeline.segment.segmenter
    if isinstance(seg, MaskedSegmenter):  # the live mask path wraps the model
        seg = seg.inner
    if isinstance(seg, RoiSegmenter):
        # Model passes per run (the ROI segmenter runs a crop pass and, at times, a full-frame pass).
        rec.extra["segmenter"] = dataclasses.asdict(seg.stats)
    return rec


def _check_frames(rec: RunRecord, expected: int, what: str) -> RunRecord:
    if rec.frames_out != expected:
        raise PipelineError(f"{what} processed {rec.frames_out} frames, expected {expected}")
    return rec


def rtseg_file_blur(clip: ClipInfo, opts: BenchOptions, output: Path) -> RunFn:
    def run(rep: int) -> RunRecord:
        return _check_frames(_run_pipeline(build(blur_config(clip, opts, output)), "rtseg", rep), clip.frames,
                             "rtseg blur")
    return run


def rtseg_file_segment(clip: ClipInfo, opts: BenchOptions, output: Path) -> RunFn:
    """The blur job's graph without its effect and with a null sink: decode + segment (+ mask stage)."""
    def run(rep: int) -> RunRecord:
        return _check_frames(_run_pipeline(build(blur_config(clip, opts, None)), "rtseg", rep), clip.frames,
                             "rtseg segment")
    return run


def baseline_run(clip: ClipInfo, opts: BenchOptions, output: Path, mode: BaselineMode) -> RunFn:
    loop = TutorialLoop(clip.path, output if mode is BaselineMode.BLUR else None, opts.strength, mode,
                        opts.baseline_blur)

    def run(rep: int) -> RunRecord:
        return _check_frames(loop.run(rep), clip.frames, "the tutorial loop")
    return run


def compare(rtseg: RunFn, baseline: RunFn | None, repeat: int, warmup: int) -> dict[str, Any]:
    """Warm up, then alternate rtseg and the baseline in ABBA order so drifting load hits both."""
    for _ in range(warmup):
        rtseg(-1)
        if baseline is not None:
            baseline(-1)
    ours: list[RunRecord] = []
    theirs: list[RunRecord] = []
    for rep in range(repeat):
        if baseline is None:
            ours.append(rtseg(rep))
        elif rep % 2 == 0:
            ours.append(rtseg(rep))
            theirs.append(baseline(rep))
        else:
            theirs.append(baseline(rep))
            ours.append(rtseg(rep))
    result: dict[str, Any] = {"rtseg": summarise(ours), "baseline": summarise(theirs) if theirs else None,
                              "speedup": None, "_records": {"rtseg": ours, "baseline": theirs}}
    if theirs:
        pairs = [a.fps / b.fps for a, b in zip(ours, theirs, strict=True) if b.fps > 0]
        med_b = statistics.median(r.fps for r in theirs)
        result["speedup"] = {
            "median_fps_ratio": round(statistics.median(r.fps for r in ours) / med_b, 3) if med_b else 0.0,
            "pairwise": [round(p, 3) for p in pairs],
            "min": round(min(pairs), 3) if pairs else 0.0,
            "max": round(max(pairs), 3) if pairs else 0.0,
            # CPU time per frame, baseline / rtseg: how much less CPU a frame costs (robust to load,
            # unlike fps, which also depends on how many cores are free).
            "cpu_per_frame_ratio": round(statistics.median(r.cpu_ms_per_frame for r in theirs)
                                         / max(1e-9, statistics.median(r.cpu_ms_per_frame for r in ours)), 3),
        }
    return result


def live_run(clip: ClipInfo, opts: BenchOptions, output: Path) -> RunFn:
    """Realtime replay at ``live_fps`` (looping the clip) through the live graph into a null sink."""
    from rtseg.sources.realtime import RealtimeSource

    def run(rep: int) -> RunRecord:
        pipeline = build(live_config(clip, opts))
        rec = _run_pipeline(pipeline, "rtseg", rep)
        source = pipeline.source
        late = source.late_dropped if isinstance(source, RealtimeSource) else 0
        rec.extra["late_dropped"] = late
        rec.extra["expected_frames"] = round(opts.live_seconds * opts.live_fps)
        return rec
    return run


# -- effects ---------------------------------------------------------------------------------------

def _frames_and_alphas(clip: ClipInfo, opts: BenchOptions, workdir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The clip's first frames with the alpha the blur job's composite would get (same stages)."""
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for frame in build(blur_config(clip, opts, None)).frames():
        if frame.alpha is None or len(out) >= opts.effects_frames:
            break
        out.append((frame.image, frame.alpha))
    return out


def effects_run(clip: ClipInfo, opts: BenchOptions, workdir: Path) -> dict[str, Any]:
    """Each effect alone: milliseconds per ``apply`` over the clip's frames and real alphas."""
    pairs = _frames_and_alphas(clip, opts, workdir)
    backdrop = workdir / "backdrop.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(backdrop), cv2.GaussianBlur(rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8), (0, 0), 4))
    effects: dict[str, Any] = {
        f"blur-{opts.strength:g}": BlurEffect(strength=opts.strength),
        f"blur-{opts.strength:g}-plain": BlurEffect(strength=opts.strength, halo_free=False),
        "replace-colour": ReplaceEffect("#00b140"),
        "replace-image": ReplaceEffect(str(backdrop)),
        "cutout": CutoutEffect(),
        "overlay": OverlayEffect(),
    }
    results: dict[str, Any] = {}
    for name, effect in effects.items():
        effect.open()
        try:
            for image, alpha in pairs[:3]:
                effect.apply(image, alpha)  # warm-up: caches, lazily built backgrounds
            secs: list[float] = []
            with Meter() as meter:
                for _ in range(opts.repeat):
                    for image, alpha in pairs:
                        t0 = time.perf_counter()
                        effect.apply(image, alpha)
                        secs.append(time.perf_counter() - t0)
        finally:
            effect.close()
        pct = percentiles_ms(secs)
        mean = statistics.fmean(secs)
        results[name] = {"p50_ms": pct["p50"], "p95_ms": pct["p95"], "p99_ms": pct["p99"],
                         "mean_ms": round(1000 * mean, 3), "fps": round(1 / mean, 1) if mean else 0.0,
                         "count": len(secs), "cpu_percent": round(meter.cpu_percent, 1)}
    return {"frames": len(pairs), "width": clip.width, "height": clip.height, "effects": results,
            "load_avg": load_average()}


# -- SAM 2 -----------------------------------------------------------------------------------------

def sam2_run(clip: ClipInfo, opts: BenchOptions) -> dict[str, Any]:
    """Per-frame and per-graph cost of the SAM 2 tracker: one click on the frame centre at frame 0.

    Timing comes from :func:`rtseg.tools.sam2.profile.profile_tracker`; "steady" figures are for
    frames whose memory bank is full (the cost a long video settles at).
    """
    from rtseg.tools.sam2.profile import profile_tracker

    assert opts.sam2_model_dir is not None

    def frames() -> Any:
        src = VideoFileSource(clip.path)
        src.open()
        try:
            while (frame := src.read()) is not None:
                yield frame.image
        finally:
            src.close()

    with Meter() as meter:
        prof = profile_tracker(opts.sam2_model_dir, frames(), n_frames=opts.sam2_frames,
                               point=(clip.width / 2, clip.height / 2))
    doc = prof.to_dict()
    median = doc["frame_ms"].get("median") or 0.0
    doc.update({"model_dir": opts.sam2_model_dir, "fps": round(1000.0 / median, 2) if median else 0.0,
                "cpu_percent": round(meter.cpu_percent, 1), "peak_rss_mb": round(meter.peak_rss_mb, 1)})
    return doc
