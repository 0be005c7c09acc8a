"""Carry-forward accuracy on DAVIS-style folders: optical flow vs holding the stale mask.

Ground-truth masks stand in for inference on every K-th frame; the frames in between get the newest
"inferred" mask either moved by optical flow (``FlowCarrier``) or held as it was (stale). IoU and
boundary F are measured against ground truth on all frames.

``--live`` measures the live path instead: inference takes K frames, so the mask of frame j arrives
at frame j + K and is the newest until j + 2K (ages K..2K-1); it is moved by ``LiveCarrier`` with the
live settings (DIS FAST at 320 px, fade-in over 2 frames) or held (stale).

    python benchmarks/carry.py ../shared/data/davis/* --json benchmarks/results/carry.json \
        --markdown benchmarks/results/carry.md
    python benchmarks/carry.py ../shared/data/davis/* --live --json benchmarks/results/carry_live.json \
        --markdown benchmarks/results/carry_live.md
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from common import write_outputs

from rtseg.metrics import boundary_f, region_iou
from rtseg.sources import ImageFolderSource
from rtseg.temporal.carry import LIVE_FLOW_WIDTH, LIVE_MASK_WIDTH, LIVE_PRESET, CarryOptions, FlowCarrier, LiveCarrier

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


PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def _summary(ious: list[float], fs: list[float], ms: list[float]) -> dict[str, float]:
    out = {"iou": float(np.mean(ious)), "boundary_f": float(np.mean(fs))}
    if ms:
        out["carry_ms"] = float(np.median(ms))
    return out


def run(images: list[np.ndarray], masks: list[np.ndarray], k: int, method: str,
        options: CarryOptions | None = None) -> dict[str, float]:
    carrier = FlowCarrier(options)
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
    return _summary(ious, fs, ms)


def run_live(images: list[np.ndarray], masks: list[np.ndarray], k: int, method: str,
             options: CarryOptions | None = None) -> dict[str, float]:
    """Live: at frame i the newest mask is frame ((i // k) - 1) * k's, k..2k-1 frames old."""
    h, w = masks[0].shape
    options = options or CarryOptions(LIVE_FLOW_WIDTH, LIVE_PRESET)
    mw = LIVE_MASK_WIDTH
    carrier = LiveCarrier(options, mask_size=(mw, round(h * mw / w)) if w > mw else None)
    ious, fs, ms = [], [], []
    key = -1
    for i, (image, gt) in enumerate(zip(images, masks, strict=True)):
        if i < k:
            continue  # no mask yet (the composite fails closed)
        newest = (i // k - 1) * k
        t0 = time.perf_counter()
        if method == "flow":
            carrier.push(image, i)
            if newest != key:
                carrier.set_key(newest, masks[newest])
            pred = carrier.current()
            if pred.shape != gt.shape:
                pred = cv2.resize(pred, (w, h), interpolation=cv2.INTER_LINEAR)
            ms.append((time.perf_counter() - t0) * 1000)
        else:
            pred = masks[newest]
        key = newest
        p, g = pred > 0.5, gt > 0.5
        ious.append(region_iou(p, g))
        fs.append(boundary_f(p, g))
    return _summary(ious, fs, ms)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequences", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--live", action="store_true", help="masks arrive K frames late (the live path)")
    ap.add_argument("--flow-width", type=int, help="DIS image width (default: 640 files, 320 live)")
    ap.add_argument("--preset", choices=sorted(PRESETS), help="DIS preset (default: ultrafast files, fast live)")
    args = ap.parse_args(argv)
    measure = run_live if args.live else run
    base = CarryOptions(LIVE_FLOW_WIDTH, LIVE_PRESET) if args.live else CarryOptions()
    options = CarryOptions(args.flow_width or base.flow_width,
                           PRESETS[args.preset] if args.preset else base.preset)
    results: dict = {"sequences": {}, "ks": list(KS), "mode": "live" if args.live else "files",
                     "flow_width": options.flow_width,
                     "preset": next(n for n, v in PRESETS.items() if v == options.preset)}
    for seq in args.sequences:
        if not (seq / "Annotations").is_dir():
            continue
        images, masks = load_sequence(seq)
        per: dict = {}
        for k in KS:
            for method in ("flow", "stale"):
                per[f"k{k}-{method}"] = measure(images, masks, k, method, options)
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
    write_outputs(results, table, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
