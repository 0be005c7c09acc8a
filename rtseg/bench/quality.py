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
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.effects.blur import DEFAULT_STRENGTH
from rtseg.frame import Frame
from rtseg.imaging.refine import RefineMode, RefineOptions
from rtseg.jobs.segmenters import refine_options, smoothing_options
from rtseg.jobs.spec import MaskSpec
from rtseg.metrics import EDGE_BAND, SequenceScore
from rtseg.segment.base import Segmenter
from rtseg.segment.registry import ModelOptions, create_segmenter
from rtseg.segment.roi import RoiSegmenter
from rtseg.segment.selfie import SelfieSegmenter
from rtseg.sources import ImageFolderSource, VideoFileSource
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions
from rtseg.temporal.stage import MaskStage

METRICS = ("iou", "boundary_f", "flicker", "outside_leak", "inside_loss")


@dataclass
class MaskVariant:
    """One mask path being measured (a row of the table): a segmenter factory and mask-stage options."""

    name: str
    segmenter: Callable[[], Segmenter]
    smoothing: SmoothingOptions = field(default_factory=lambda: SmoothingOptions(SmoothingMode.NONE))
    refine: RefineOptions = field(default_factory=RefineOptions)


def default_variant() -> MaskVariant:
    """What a job uses with the default ``[mask]`` section and ``model = "selfie"``."""
    m = MaskSpec()
    options = ModelOptions(roi=m.roi, roi_margin=m.roi_margin, redetect_every=m.redetect_every)
    return MaskVariant("default", lambda: create_segmenter("selfie", options), smoothing_options(m), refine_options(m))


def before_edge_variant() -> MaskVariant:
    """The default mask path as it was before the ``edge`` refinement: the same, with ``refine = "none"``."""
    dv = default_variant()
    return MaskVariant("default, refine none (before)", dv.segmenter, dv.smoothing, RefineOptions(RefineMode.NONE))


def rvm_variant(model_dir: str | Path) -> MaskVariant:
    """``--quality high``: Robust Video Matting (``rtseg import-rvm``), no smoothing, the default refinement."""
    from rtseg.segment.rvm import RvmSegmenter

    return MaskVariant("rvm (--quality high)", lambda: RvmSegmenter(model_dir),
                   SmoothingOptions(SmoothingMode.NONE), refine_options(MaskSpec()))


def variants() -> list[MaskVariant]:
    def raw() -> Segmenter:
        return SelfieSegmenter("auto")

    def raw_sq() -> Segmenter:
        return SelfieSegmenter("square")

    def roi() -> Segmenter:
        return RoiSegmenter("auto")

    motion = SmoothingOptions(SmoothingMode.MOTION)
    before = before_edge_variant()
    return [
        MaskVariant("raw (selfie auto)", raw),
        MaskVariant("raw (selfie-square)", raw_sq),
        MaskVariant("ema 0.5", raw, SmoothingOptions(SmoothingMode.EMA, ema_weight=0.5)),
        MaskVariant("uncertainty 0.7", raw, SmoothingOptions(SmoothingMode.UNCERTAINTY)),
        MaskVariant("motion-aware 0.7", raw, motion),
        MaskVariant("guided filter", raw, refine=RefineOptions(RefineMode.GUIDED)),
        MaskVariant("feather 1.5", raw, refine=RefineOptions(RefineMode.FEATHER)),
        MaskVariant("roi", roi),
        MaskVariant("roi + motion-aware", roi, motion),
        MaskVariant("roi + motion-aware + guided", roi, motion, RefineOptions(RefineMode.GUIDED)),
        before,
        MaskVariant("default, ramp 0.45/0.55, refine none", before.segmenter,
                replace(before.smoothing, low=0.45, high=0.55), before.refine),
        MaskVariant("default, edge at full resolution", before.segmenter, before.smoothing,
                RefineOptions(RefineMode.EDGE, radius=16, guide_side=100_000)),
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


def _masked_frames(seq: Path, variant: MaskVariant) -> Generator[tuple[Frame, np.ndarray], None, None]:
    """Each frame of a DAVIS-style folder with the variant's final alpha, in order (from frame 0, so
    the temporal smoothing has its history); everything opened is closed when the iteration ends."""
    stage = MaskStage(variant.smoothing, variant.refine)
    seg = variant.segmenter()
    src = ImageFolderSource(seq / "JPEGImages")
    info = src.open()
    try:
        seg.open(info)
        stage.open(info)
        try:
            while (frame := src.read()) is not None:
                yield frame, _mask_frame(seg, stage, frame)
        finally:
            stage.close()
            seg.close()
    finally:
        src.close()


def evaluate(seq: Path, variant: MaskVariant,
             plot_row: float | None = None) -> tuple[dict[str, float], np.ndarray | None]:
    """Score ``variant`` on one DAVIS-style folder; with ``plot_row`` (0..1 of the height) also return
    that row of alpha over time (frames x width) to show flicker."""
    score = SequenceScore()
    rows = []
    for frame, alpha in _masked_frames(seq, variant):
        score.add(alpha, load_gt(seq / "Annotations" / f"{frame.name}.png", alpha.shape))
        if plot_row is not None:
            rows.append(alpha[int(plot_row * (frame.height - 1))].copy())
    kymo = np.stack(rows) if rows else None
    return score.summary(), kymo


def evaluate_all(sequences: Sequence[Path], chosen: Sequence[MaskVariant], plot_row: float | None = None,
                 on_result: Callable[[str, MaskVariant, dict[str, float], np.ndarray | None], None] | None = None,
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
    """ms per frame: raw model + bilinear upsample vs the default mask path (and the default before the
    ``edge`` refinement), same frames, same run, alternating."""
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

    before = before_edge_variant()
    raw, previous, default = [], [], []
    for _ in range(repeat):  # alternate so machine noise hits all three
        raw.append(run(SelfieSegmenter("auto"), MaskStage(SmoothingOptions(SmoothingMode.NONE))))
        previous.append(run(before.segmenter(), MaskStage(before.smoothing, before.refine)))
        default.append(run(dv.segmenter(), MaskStage(dv.smoothing, dv.refine)))
    rw, rc = (float(np.median([x[i] for x in raw])) for i in (0, 1))
    bc = float(np.median([x[1] for x in previous]))
    dw, dc = (float(np.median([x[i] for x in default])) for i in (0, 1))
    h, w = images[0].image.shape[:2]
    return {"resolution": f"{w}x{h}", "frames": len(images), "load_1min": round(os.getloadavg()[0], 2),
            "raw_ms": round(rw, 2), "default_ms": round(dw, 2), "added_ms": round(dw - rw, 2),
            "raw_cpu_ms": round(rc, 2), "default_cpu_ms": round(dc, 2), "added_cpu_ms": round(dc - rc, 2),
            "before_edge_cpu_ms": round(bc, 2), "edge_cpu_ms": round(dc - bc, 2)}


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
    lines += ["", f"Edge leak in bands of {100 * EDGE_BAND:.1f} % of the frame diagonal on either side of the "
              "ground-truth edge: outside leak = mean alpha over the background band (background kept sharp), "
              "inside loss = mean 1 - alpha over the object band (object blurred away); lower is better.", "",
              "| configuration | " + " | ".join(f"{s} leak | {s} loss" for s in seqs)
              + " | mean leak | mean loss | mean IoU | mean F | mean flicker |",
              "|" + "---|" * (1 + 2 * len(seqs) + 5)]
    for name in results["variants"]:
        cells = []
        for s in seqs:
            r = results["sequences"][s][name]
            cells += [f"{r['outside_leak']:.3f}", f"{r['inside_loss']:.3f}"]
        m = results["mean"][name]
        cells += [f"{m['outside_leak']:.3f}", f"{m['inside_loss']:.3f}", f"{m['iou']:.3f}", f"{m['boundary_f']:.3f}",
                  f"{m['flicker']:.4f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _alpha_at(seq: Path, variant: MaskVariant, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame ``index`` of a DAVIS folder and the variant's alpha on it (run from frame 0, so the
    temporal smoothing has its history)."""
    frames = _masked_frames(seq, variant)
    try:
        for frame, alpha in frames:
            if frame.index == index:
                return frame.image, alpha
    finally:
        frames.close()  # closes the model and the source at once, not at garbage collection
    raise ValueError(f"{seq} has no frame {index}")


def edge_boxes(gt: np.ndarray, side: int) -> dict[str, tuple[int, int]]:
    """Top-left corners of square crops of ``side`` px: the head (top of the object) and its leftmost
    and rightmost points in the middle third of its height (arms, shoulders)."""
    ys, xs = np.nonzero(gt)
    h, w = gt.shape
    y0, y1 = int(ys.min()), int(ys.max())

    def clamp(cx: int, cy: int) -> tuple[int, int]:
        return int(np.clip(cx - side // 2, 0, w - side)), int(np.clip(cy - side // 2, 0, h - side))

    top = ys == y0
    boxes = {"head": clamp(int(xs[top].mean()), y0 + side // 3)}
    mid = (ys > y0 + (y1 - y0) // 3) & (ys < y0 + 2 * (y1 - y0) // 3)
    if mid.any():
        left, right = int(np.argmin(np.where(mid, xs, w))), int(np.argmax(np.where(mid, xs, -1)))
        boxes["left"] = clamp(int(xs[left]), int(ys[left]))
        boxes["right"] = clamp(int(xs[right]), int(ys[right]))
    return boxes


def render_edges(seq: Path, chosen: Sequence[MaskVariant], out_dir: Path, *, position: float = 0.5,
                 strength: float = DEFAULT_STRENGTH, side: int = 96, zoom: int = 3) -> Path:
    """Side-by-side crops of the head and arms of one frame: the input, then each configuration's
    background blur (what a video call shows), with the ground-truth edge drawn in thin green.
    Rows: head, left, right; columns: input and each configuration. Written as PNG; returns its path."""
    from rtseg.effects import BlurEffect

    frames = sorted((seq / "JPEGImages").glob("*.jpg"))
    index = min(len(frames) - 1, round(position * (len(frames) - 1)))
    image = None
    outputs: list[tuple[str, np.ndarray]] = []
    fx = BlurEffect(strength=strength)
    for v in chosen:
        image, alpha = _alpha_at(seq, v, index)
        outputs.append((v.name, fx.apply(image, alpha)))
    assert image is not None
    gt = load_gt(seq / "Annotations" / f"{frames[index].stem}.png", image.shape[:2])
    edge = cv2.morphologyEx(gt.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((2, 2), np.uint8)) > 0
    columns = [("input", image), *outputs]
    rows = []
    for name, (x, y) in edge_boxes(gt, side).items():
        tiles = []
        for label, picture in columns:
            crop = picture[y:y + side, x:x + side].copy()
            crop[edge[y:y + side, x:x + side]] = (0, 255, 0)
            big = cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
            cv2.putText(big, f"{name}: {label}"[:40], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                        cv2.LINE_AA)
            tiles.append(cv2.copyMakeBorder(big, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(0, 0, 0)))
        rows.append(np.hstack(tiles))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{seq.name}-{frames[index].stem}.png"
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    return path
