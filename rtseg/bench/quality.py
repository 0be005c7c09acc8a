"""Mask quality on DAVIS-style folders: raw model vs each smoothing/refinement option vs the default.

For each sequence (``JPEGImages/*.jpg`` + ``Annotations/*.png``) and each configuration: region IoU
(alpha > 0.5), DAVIS boundary F (tolerance 0.008 x diagonal) and flicker (mean |alpha_t - alpha_t-1|
over pixels whose ground-truth label is unchanged and > 5 px from either frame's boundary). The
frames go through the file path's mask path: the segmenter's alpha at its own resolution, then
:class:`~rtseg.temporal.stage.MaskStage` (smoothing, refinement, upsampling). :func:`time_cost`
times the default mask path against the raw model on the same frames. ``benchmarks/quality.py`` is
the command line.

>>> [v.name for v in variants()][-1]
'default'
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.frame import Frame
from rtseg.jobs.segmenters import refine_options, smoothing_options
from rtseg.jobs.spec import MaskSpec
from rtseg.metrics import SequenceScore
from rtseg.segment.base import Segmenter
from rtseg.segment.registry import ModelOptions, create_segmenter
from rtseg.segment.roi import RoiSegmenter
from rtseg.segment.selfie import SelfieSegmenter
from rtseg.sources import ImageFolderSource, VideoFileSource
from rtseg.temporal.refine import RefineMode, RefineOptions
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions
from rtseg.temporal.stage import MaskStage

METRICS = ("iou", "boundary_f", "flicker")


@dataclass
class Variant:
    """One configuration: a segmenter factory and mask-stage options."""

    name: str
    segmenter: Callable[[], Segmenter]
    smoothing: SmoothingOptions = field(default_factory=lambda: SmoothingOptions(SmoothingMode.NONE))
    refine: RefineOptions = field(default_factory=RefineOptions)


def default_variant() -> Variant:
    """What a job uses with the default ``[mask]`` section and ``model = "selfie"``."""
    m = MaskSpec()
    options = ModelOptions(roi=m.roi, roi_margin=m.roi_margin, redetect_every=m.redetect_every)
    return Variant("default", lambda: create_segmenter("selfie", options), smoothing_options(m), refine_options(m))


def variants() -> list[Variant]:
    def raw() -> Segmenter:
        return SelfieSegmenter("auto")

    def raw_sq() -> Segmenter:
        return SelfieSegmenter("square")

    def roi() -> Segmenter:
        return RoiSegmenter("auto")

    motion = SmoothingOptions(SmoothingMode.MOTION)
    return [
        Variant("raw (selfie auto)", raw),
        Variant("raw (selfie-square)", raw_sq),
        Variant("ema 0.5", raw, SmoothingOptions(SmoothingMode.EMA, ema_weight=0.5)),
        Variant("uncertainty 0.7", raw, SmoothingOptions(SmoothingMode.UNCERTAINTY)),
        Variant("motion-aware 0.7", raw, motion),
        Variant("guided filter", raw, refine=RefineOptions(RefineMode.GUIDED)),
        Variant("feather 1.5", raw, refine=RefineOptions(RefineMode.FEATHER)),
        Variant("roi", roi),
        Variant("roi + motion-aware", roi, motion),
        Variant("roi + motion-aware + guided", roi, motion, RefineOptions(RefineMode.GUIDED)),
        default_variant(),
    ]


def is_davis_folder(seq: Path) -> bool:
    return (seq / "JPEGImages").is_dir() and (seq / "Annotations").is_dir()


def load_gt(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """Ground truth as a boolean mask of ``shape`` (h, w); nearest-neighbour resized if needed."""
    gt = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gt is None:
        raise FileNotFoundError(f"missing ground truth {path}")
    if gt.shape != shape:
        gt = cv2.resize(gt, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return gt > 127


def _mask_frame(seg: Segmenter, stage: MaskStage, frame: Frame) -> np.ndarray:
    """The file path for one frame: the segmenter's alpha, then the mask stage (to frame size)."""
    result = seg.segment(frame)
    frame.alpha = None if result is None else result.alpha
    stage.process(frame)
    assert frame.alpha is not None
    return frame.alpha


def evaluate(seq: Path, variant: Variant, plot_row: float | None = None) -> tuple[dict[str, float], np.ndarray | None]:
    """Score ``variant`` on one DAVIS-style folder; with ``plot_row`` (0..1 of the height) also return
    that row of alpha over time (frames x width) to show flicker."""
    score = SequenceScore()
    rows = []
    stage = MaskStage(variant.smoothing, variant.refine)
    seg = variant.segmenter()
    src = ImageFolderSource(seq / "JPEGImages")
    info = src.open()
    try:
        seg.open(info)
        stage.open(info)
        try:
            while (frame := src.read()) is not None:
                alpha = _mask_frame(seg, stage, frame)
                gt = load_gt(seq / "Annotations" / f"{frame.name}.png", alpha.shape)
                score.add(alpha, gt)
                if plot_row is not None:
                    rows.append(alpha[int(plot_row * (frame.height - 1))].copy())
        finally:
            stage.close()
            seg.close()
    finally:
        src.close()
    kymo = np.stack(rows) if rows else None
    return score.summary(), kymo


def evaluate_all(sequences: Sequence[Path], chosen: Sequence[Variant], plot_row: float | None = None,
                 on_result: Callable[[str, Variant, dict[str, float], np.ndarray | None], None] | None = None,
                 ) -> dict[str, Any]:
    """Every variant on every sequence, plus the mean over sequences (the JSON the script writes).
    ``on_result(sequence_name, variant, summary, kymograph)`` is called after each run."""
    results: dict[str, Any] = {"sequences": {}, "variants": [v.name for v in chosen], "mean": {}}
    for seq in sequences:
        results["sequences"][seq.name] = {}
        for v in chosen:
            summary, kymo = evaluate(seq, v, plot_row)
            results["sequences"][seq.name][v.name] = summary
            if on_result is not None:
                on_result(seq.name, v, summary, kymo)
    for v in chosen:
        per = [results["sequences"][s][v.name] for s in results["sequences"]]
        results["mean"][v.name] = {k: float(np.mean([p[k] for p in per])) for k in METRICS}
    return results


def time_cost(video: Path, frames: int = 120, repeat: int = 5) -> dict[str, Any]:
    """ms per frame: raw model + bilinear upsample vs the default mask path, same frames, same run."""
    images: list[Frame] = []
    src = VideoFileSource(video)
    info = src.open()
    try:
        while len(images) < frames and (f := src.read()) is not None:
            images.append(f)
    finally:
        src.close()
    if not images:
        raise ValueError(f"no frames in {video}")
    dv = default_variant()

    def run(seg: Segmenter, stage: MaskStage) -> tuple[float, float]:
        seg.open(info)
        stage.open(info)
        try:
            for f in images[:10]:  # warm-up
                _mask_frame(seg, stage, f)
            t0, c0 = time.perf_counter(), time.process_time()
            for f in images:
                _mask_frame(seg, stage, f)
            n = len(images)
            return (time.perf_counter() - t0) / n * 1000, (time.process_time() - c0) / n * 1000
        finally:
            seg.close()

    raw, default = [], []
    for _ in range(repeat):  # alternate so machine noise hits both
        raw.append(run(SelfieSegmenter("auto"), MaskStage(SmoothingOptions(SmoothingMode.NONE))))
        default.append(run(dv.segmenter(), MaskStage(dv.smoothing, dv.refine)))
    rw, rc = (float(np.median([x[i] for x in raw])) for i in (0, 1))
    dw, dc = (float(np.median([x[i] for x in default])) for i in (0, 1))
    h, w = images[0].image.shape[:2]
    return {"resolution": f"{w}x{h}", "frames": len(images), "load_1min": round(os.getloadavg()[0], 2),
            "raw_ms": round(rw, 2), "default_ms": round(dw, 2), "added_ms": round(dw - rw, 2),
            "raw_cpu_ms": round(rc, 2), "default_cpu_ms": round(dc, 2), "added_cpu_ms": round(dc - rc, 2)}


def markdown(results: dict[str, Any]) -> str:
    """The results as one Markdown table: a row per configuration, IoU / F / flicker per sequence and mean."""
    seqs = list(results["sequences"])
    head = "| configuration | " + " | ".join(f"{s} IoU | {s} F | {s} flicker" for s in seqs) + \
        " | mean IoU | mean F | mean flicker |"
    lines = [head, "|" + "---|" * (1 + 3 * len(seqs) + 3)]
    for name in results["variants"]:
        cells = []
        for s in seqs:
            r = results["sequences"][s][name]
            cells += [f"{r['iou']:.3f}", f"{r['boundary_f']:.3f}", f"{r['flicker']:.4f}"]
        m = results["mean"][name]
        cells += [f"{m['iou']:.3f}", f"{m['boundary_f']:.3f}", f"{m['flicker']:.4f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
