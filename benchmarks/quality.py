"""Mask quality on DAVIS-style folders: raw model vs each smoothing/refinement option vs the default.

For each sequence (``JPEGImages/*.jpg`` + ``Annotations/*.png``) and each configuration it reports
region IoU (alpha > 0.5), DAVIS boundary F (tolerance 0.008 x diagonal) and flicker (mean
|alpha_t - alpha_t-1| over pixels whose ground-truth label is unchanged and > 5 px from either
frame's boundary), writes JSON and a markdown table, and can draw alpha-over-time images for one
pixel row (``--plot-row``) so the flicker can be seen. It also times the default mask path against
the raw model on 720p frames (``--cost-input``).

    python benchmarks/quality.py ../shared/data/davis/lucia ../shared/data/davis/dance-twirl \
        --json benchmarks/results/quality.json --markdown benchmarks/results/quality.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from common import write_outputs

from rtseg.config import MaskConfig
from rtseg.effects.refine import RefineMode, RefineOptions
from rtseg.metrics import SequenceScore
from rtseg.segment import Segmenter, SelfieSegmenter
from rtseg.segment.roi import RoiSegmenter
from rtseg.sources import ImageFolderSource, VideoFileSource
from rtseg.temporal import MaskStage, SmoothingMode, SmoothingOptions


@dataclass
class Variant:
    """One configuration: a segmenter factory and mask-stage options."""

    name: str
    segmenter: Callable[[], Segmenter]
    smoothing: SmoothingOptions = field(default_factory=lambda: SmoothingOptions(SmoothingMode.NONE))
    refine: RefineOptions = field(default_factory=RefineOptions)


def default_variant() -> Variant:
    cfg = MaskConfig()
    return Variant("default", cfg.segmenter_factory("selfie"), cfg.smoothing_options(), cfg.refine_options())


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


def load_gt(path: Path, shape: tuple[int, int]) -> np.ndarray:
    gt = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gt is None:
        raise SystemExit(f"missing ground truth {path}")
    if gt.shape != shape:
        gt = cv2.resize(gt, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return gt > 127


def evaluate(seq: Path, variant: Variant, plot_row: float | None = None) -> tuple[dict, np.ndarray | None]:
    score = SequenceScore()
    rows = []
    stage = MaskStage(variant.smoothing, variant.refine)
    seg = variant.segmenter()
    with ImageFolderSource(seq / "JPEGImages") as src, stage:
        seg.open()
        try:
            while (frame := src.read()) is not None:
                frame.alpha = seg.segment(frame.image)
                stage.process(frame)
                assert frame.alpha is not None
                gt = load_gt(seq / "Annotations" / f"{frame.name}.png", frame.alpha.shape)
                score.add(frame.alpha, gt)
                if plot_row is not None:
                    rows.append(frame.alpha[int(plot_row * (frame.height - 1))].copy())
        finally:
            seg.close()
    kymo = np.stack(rows) if rows else None
    return score.summary(), kymo


def time_cost(video: Path, frames: int = 120) -> dict[str, float]:
    """ms per frame: raw model + bilinear upsample vs the default mask path, same frames, same run."""
    images = []
    with VideoFileSource(video) as src:
        while len(images) < frames and (f := src.read()) is not None:
            images.append(f)
    dv = default_variant()

    def run(seg: Segmenter, stage: MaskStage) -> tuple[float, float]:
        seg.open()
        stage.open()
        try:
            for f in images[:10]:  # warm-up
                f.alpha = seg.segment(f.image)
                stage.process(f)
            t0, c0 = time.perf_counter(), time.process_time()
            for f in images:
                f.alpha = seg.segment(f.image)
                stage.process(f)
            n = len(images)
            return (time.perf_counter() - t0) / n * 1000, (time.process_time() - c0) / n * 1000
        finally:
            seg.close()

    raw, default = [], []
    for _ in range(5):  # alternate so machine noise hits both
        raw.append(run(SelfieSegmenter("auto"), MaskStage(SmoothingOptions(SmoothingMode.NONE))))
        default.append(run(dv.segmenter(), MaskStage(dv.smoothing, dv.refine)))
    rw, rc = (float(np.median([x[i] for x in raw])) for i in (0, 1))
    dw, dc = (float(np.median([x[i] for x in default])) for i in (0, 1))
    h, w = images[0].image.shape[:2]
    return {"resolution": f"{w}x{h}", "frames": len(images), "load_1min": round(os.getloadavg()[0], 2),
            "raw_ms": round(rw, 2), "default_ms": round(dw, 2), "added_ms": round(dw - rw, 2),
            "raw_cpu_ms": round(rc, 2), "default_cpu_ms": round(dc, 2), "added_cpu_ms": round(dc - rc, 2)}


def markdown(results: dict) -> str:
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequences", nargs="+", type=Path, help="DAVIS-style folders (JPEGImages/, Annotations/)")
    ap.add_argument("--only", nargs="*", help="run only these configuration names")
    ap.add_argument("--json", type=Path, help="write results here")
    ap.add_argument("--markdown", type=Path, help="write the table here")
    ap.add_argument("--plot-row", type=float, help="row (0..1 of the height) for alpha-over-time images")
    ap.add_argument("--plot-dir", type=Path, default=Path("benchmarks/results/flicker"))
    ap.add_argument("--cost-input", type=Path, help="720p video to time the default mask path on")
    args = ap.parse_args(argv)

    chosen = [v for v in variants() if not args.only or v.name in args.only]
    results: dict = {"sequences": {}, "variants": [v.name for v in chosen], "mean": {}}
    for seq in args.sequences:
        if not (seq / "JPEGImages").is_dir() or not (seq / "Annotations").is_dir():
            ap.error(f"{seq} is not a DAVIS-style folder (JPEGImages/ and Annotations/)")
        results["sequences"][seq.name] = {}
        for v in chosen:
            summary, kymo = evaluate(seq, v, args.plot_row)
            results["sequences"][seq.name][v.name] = summary
            print(f"{seq.name:14s} {v.name:32s} IoU {summary['iou']:.4f}  F {summary['boundary_f']:.4f}  "
                  f"flicker {summary['flicker']:.5f}", file=sys.stderr)
            if kymo is not None:
                args.plot_dir.mkdir(parents=True, exist_ok=True)
                safe = "".join(c if c.isalnum() else "_" for c in v.name)
                cv2.imwrite(str(args.plot_dir / f"{seq.name}-{safe}.png"),
                            cv2.resize((kymo * 255).astype(np.uint8), None, fx=1, fy=4,
                                       interpolation=cv2.INTER_NEAREST))
    for v in chosen:
        per = [results["sequences"][s][v.name] for s in results["sequences"]]
        results["mean"][v.name] = {k: float(np.mean([p[k] for p in per])) for k in ("iou", "boundary_f", "flicker")}
    if args.cost_input:
        results["cost_720p"] = time_cost(args.cost_input)
        print(f"cost: {results['cost_720p']}", file=sys.stderr)
    table = markdown(results)
    write_outputs(results, table, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
