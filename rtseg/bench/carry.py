"""Carry-forward accuracy on DAVIS-style folders: optical flow vs holding the stale mask.

Files (:func:`run`): ground-truth masks stand in for inference on every K-th frame; the frames in
between get the newest "inferred" mask either moved by optical flow (:class:`~rtseg.temporal.carry.Carrier`
without fade-in, as ``--infer-every K`` moves it) or held as it was (stale). IoU and boundary F are
measured against ground truth on all frames.

Live (:func:`run_live`): inference takes K frames, so the mask of frame j arrives at frame j + K and
is the newest until j + 2K (ages K..2K-1); it is moved by the carrier with the live settings (mask
moved at 320 px wide, fade-in over 2 frames) or held (stale). ``benchmarks/carry.py`` is the command
line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.metrics import boundary_f, region_iou
from rtseg.sources import ImageFolderSource
from rtseg.temporal.carry import LIVE_MASK_WIDTH, Carrier, CarryOptions

KS = (2, 4, 8)
METHODS = ("flow", "stale")
PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
           "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

def load_sequence(seq: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The RGB frames of ``seq/JPEGImages`` and their ground truth (float32 0/1) from ``seq/Annotations``."""
    images, masks = [], []
    with ImageFolderSource(seq / "JPEGImages") as src:
        while (f := src.read()) is not None:
            path = seq / "Annotations" / f"{f.name}.png"
            gt = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if gt is None:
                raise FileNotFoundError(f"missing ground truth {path}")
            if gt.shape != f.image.shape[:2]:
                gt = cv2.resize(gt, (f.width, f.height), interpolation=cv2.INTER_NEAREST)
            images.append(f.image)
            masks.append((gt > 127).astype(np.float32))
    return images, masks


def _summary(ious: list[float], fs: list[float], ms: list[float]) -> dict[str, float]:
    out = {"iou": float(np.mean(ious)), "boundary_f": float(np.mean(fs))}
    if ms:
        out["carry_ms"] = float(np.median(ms))
    return out


def file_options() -> CarryOptions:
    """The flow settings of ``--infer-every K`` on files."""
    return CarryOptions()


def live_options() -> CarryOptions:
    """The flow settings of live carry-forward."""
    return CarryOptions()


def run(images: list[np.ndarray], masks: list[np.ndarray], k: int, method: str,
        options: CarryOptions | None = None) -> dict[str, float]:
    """Files: the mask of every K-th frame, moved by flow (``method="flow"``) or held (``"stale"``)
    onto the frames in between. ``carry_ms`` is the median cost of one carried frame."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    carrier = Carrier(options or file_options(), blend_frames=0)
    key = masks[0]
    ious, fs, ms = [], [], []
    for i, (image, gt) in enumerate(zip(images, masks, strict=True)):
        if i % k == 0:
            key = gt
            pred = gt
            if method == "flow":
                carrier.push(image, i)
                carrier.set_key(i, gt)
        elif method == "flow":
            t0 = time.perf_counter()
            carrier.push(image, i)
            pred = carrier.current()
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
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    h, w = masks[0].shape
    mw = LIVE_MASK_WIDTH
    carrier = Carrier(options or live_options(), mask_size=(mw, round(h * mw / w)) if w > mw else None)
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


def preset_name(preset: int) -> str:
    return next((n for n, v in PRESETS.items() if v == preset), str(preset))


def evaluate(sequences: Sequence[Path], *, live: bool = False, options: CarryOptions | None = None,
             ks: Sequence[int] = KS,
             on_result: Callable[[str, int, str, dict[str, float]], None] | None = None) -> dict[str, Any]:
    """Flow and stale at every K on every DAVIS-style folder (those without ``Annotations/`` are
    skipped), with the mean over sequences: the JSON ``benchmarks/carry.py`` writes.
    ``on_result(sequence_name, k, method, summary)`` is called after each measurement."""
    measure = run_live if live else run
    options = options or (live_options() if live else file_options())
    results: dict[str, Any] = {"sequences": {}, "ks": list(ks), "mode": "live" if live else "files",
                               "flow_width": options.flow_width, "preset": preset_name(options.preset)}
    for seq in sequences:
        if not (seq / "Annotations").is_dir():
            continue
        images, masks = load_sequence(seq)
        per: dict[str, dict[str, float]] = {}
        for k in ks:
            for method in METHODS:
                per[f"k{k}-{method}"] = r = measure(images, masks, k, method, options)
                if on_result is not None:
                    on_result(seq.name, k, method, r)
        results["sequences"][seq.name] = per
    results["mean"] = summarize(results)
    return results


def summarize(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Mean IoU and boundary F over the sequences, per ``k{K}-{method}``."""
    seqs = results["sequences"]
    if not seqs:
        return {}
    keys = next(iter(seqs.values()))
    return {key: {m: float(np.mean([seqs[s][key][m] for s in seqs])) for m in ("iou", "boundary_f")}
            for key in keys}


def markdown(results: dict[str, Any]) -> str:
    """One row per sequence and the mean: IoU / F of flow and stale at each K."""
    ks = results["ks"]
    lines = ["| sequence | " + " | ".join(f"K={k} flow IoU / F | K={k} stale IoU / F" for k in ks) + " |",
             "|---|" + "---|" * (2 * len(ks))]
    for s in [*results["sequences"], "mean"]:
        row = results["mean"] if s == "mean" else results["sequences"][s]
        cells = []
        for k in ks:
            for method in METHODS:
                r = row[f"k{k}-{method}"]
                cells.append(f"{r['iou']:.3f} / {r['boundary_f']:.3f}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
