"""Carry-forward accuracy on DAVIS-style folders: optical flow vs holding the stale mask.

Ground-truth masks stand in for inference on every K-th frame; the frames in between get the newest
"inferred" mask either moved by optical flow (``FlowCarrier``) or held as it was (stale). IoU and
boundary F are measured against ground truth on all frames.

    python benchmarks/carry.py ../shared/data/davis/* --json benchmarks/results/carry.json \
        --markdown benchmarks/results/carry.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from rtseg.metrics import boundary_f, region_iou
from rtseg.sources import ImageFolderSource
from rtseg.temporal.carry import FlowCarrier

KS = (2, 4, 8)


def load_sequence(seq: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images, masks = [], []
    with ImageFolderSource(seq / "JPEGImages") as src:
        while (f := src.read()) is not None:
            gt = cv2.imread(str(seq / "Annotations" / f"{f.name}.png"), cv2.IMREAD_GRAYSCALE)
            if gt is None:
                raise SystemExit(f"missing {seq / 'Annotations' / f'{f.name}.png'}")
            if gt.shape != f.image.shape[:2]:
                gt = cv2.resize(gt, (f.width, f.height), interpolation=cv2.INTER_NEAREST)
            images.append(f.image)
            masks.append((gt > 127).astype(np.float32))
    return images, masks


def run(images: list[np.ndarray], masks: list[np.ndarray], k: int, method: str) -> dict[str, float]:
    carrier = FlowCarrier()
    key = masks[0]
    ious, fs, ms = [], [], []
    for i, (image, gt) in enumerate(zip(images, masks, strict=True)):
        if i % k == 0:
            key = gt
            pred = gt
            if method == "flow":
                carrier.set_key(image, gt)
        elif method == "flow":
            t0 = time.perf_counter()
            pred = carrier.carry(image)
            ms.append((time.perf_counter() - t0) * 1000)
        else:
            pred = key
        p, g = pred > 0.5, gt > 0.5
        ious.append(region_iou(p, g))
        fs.append(boundary_f(p, g))
    out = {"iou": float(np.mean(ious)), "boundary_f": float(np.mean(fs))}
    if ms:
        out["carry_ms"] = float(np.median(ms))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequences", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)
    results: dict = {"sequences": {}, "ks": list(KS)}
    for seq in args.sequences:
        if not (seq / "Annotations").is_dir():
            continue
        images, masks = load_sequence(seq)
        per: dict = {}
        for k in KS:
            for method in ("flow", "stale"):
                per[f"k{k}-{method}"] = run(images, masks, k, method)
                r = per[f"k{k}-{method}"]
                print(f"{seq.name:12s} K={k} {method:5s} IoU {r['iou']:.4f} F {r['boundary_f']:.4f}", file=sys.stderr)
        results["sequences"][seq.name] = per
    names = list(results["sequences"])
    results["mean"] = {key: {m: float(np.mean([results["sequences"][s][key][m] for s in names]))
                             for m in ("iou", "boundary_f")}
                       for key in next(iter(results["sequences"].values()))}
    lines = ["| sequence | " + " | ".join(f"K={k} flow IoU / F | K={k} stale IoU / F" for k in KS) + " |",
             "|---|" + "---|" * (2 * len(KS))]
    for s in [*names, "mean"]:
        row = results["mean"] if s == "mean" else results["sequences"][s]
        cells = []
        for k in KS:
            for method in ("flow", "stale"):
                r = row[f"k{k}-{method}"]
                cells.append(f"{r['iou']:.3f} / {r['boundary_f']:.3f}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
