"""The change gate: how many model runs it saves, and whether the masks stay as good.

For each clip, the same ``segment`` job (default mask path, the file schedule) runs three ways:

* ``every frame``: the model on every frame (the reference);
* ``gate T``: rtseg's per-region change gate at threshold T (``mask.gate``; skipped frames get the
  last mask moved by optical flow, as in ``rtseg webcam``);
* ``whole-frame PSNR ≥ P``: the criterion of the OBS background-removal plugin's frame skipping in the
  same pipeline: a frame whose PSNR (on the gate's grey thumbnail) against the last segmented frame is
  at least P dB is skipped and holds the last mask. P is chosen so it skips as many frames as
  ``gate T`` did on the same clip, so the two criteria are compared at the same saving.

Reported per clip: frames segmented, CPU ms per frame of the job's pipeline threads (``gate`` vs
``every frame``; from ``RunStats.cpu_ms_per_frame``),
agreement with the reference (IoU of alpha > 0.5: mean, and the worst 1 % of frames, where a frozen
mask shows), and on DAVIS folders IoU / boundary F / flicker against the ground truth.

    python benchmarks/gate.py ../shared/data/webcam/thoughtful-640x360.mp4 \\
        ../shared/data/webcam/doctor-desk-960x540.mp4 ../shared/data/davis/lucia \\
        ../shared/data/davis/dance-twirl --json benchmarks/results/gate.json \\
        --markdown benchmarks/results/gate.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import machine_info, write_outputs

from rtseg.bench.quality import is_davis_folder, load_gt
from rtseg.jobs import JobSpec, build
from rtseg.jobs.build import LIVE_GATE
from rtseg.metrics import SequenceScore, region_iou
from rtseg.segment.gate import ChangeGate, GateOptions


def run_job(clip: Path, gate: float, psnr_db: float | None = None,
            ) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any]]:
    """Frames and alphas of the default ``segment`` job on ``clip`` with ``mask.gate = gate``; with
    ``psnr_db`` the gate is the whole-frame PSNR test instead (same pipeline, same hold)."""
    src = clip / "JPEGImages" if is_davis_folder(clip) else clip
    spec = JobSpec.from_dict({"command": "segment", "source": {"path": str(src)}, "outputs": [{"kind": "null"}],
                              "mask": {"gate": gate if psnr_db is None else LIVE_GATE},  # PSNR: replaced below
                              "run": {"progress": False}}).check()
    pipeline = build(spec)
    if psnr_db is not None:
        pipeline.segment.gate = ChangeGate(GateOptions(threshold=psnr_db, criterion="psnr"))
    images: list[np.ndarray] = []
    alphas: list[np.ndarray] = []
    t0 = time.perf_counter()
    for frame in pipeline.frames():
        assert frame.alpha is not None
        images.append(frame.image)
        alphas.append(np.array(frame.alpha, np.float32))
    stats = pipeline.stats
    assert stats is not None
    # The pipeline threads' own CPU (RunStats.cpu_ms_per_frame), not this loop's copies of the masks.
    cpu = stats.cpu_breakdown_ms()
    own = sum(v for k, v in cpu.items() if k not in ("other", "total"))
    gate_doc = stats.extra.get("gate", {})
    segmented = gate_doc.get("segmented", len(alphas))
    return images, alphas, {"frames": len(alphas), "segmented": segmented, "cpu_ms_per_frame": round(own, 2),
                            "cpu_by_thread": cpu, "wall_s": round(time.perf_counter() - t0, 2)}


def psnr_runs(images: list[np.ndarray], threshold_db: float) -> int:
    """How many frames the whole-frame PSNR gate would send to the model (it looks only at images)."""
    gate = ChangeGate(GateOptions(threshold=threshold_db, criterion="psnr"))
    return sum(gate.check(image) for image in images)


def matched_psnr(images: list[np.ndarray], runs: int) -> float:
    """The PSNR threshold whose gate segments about ``runs`` frames (bisection)."""
    lo, hi = 10.0, 80.0
    best = (hi, psnr_runs(images, hi))
    for _ in range(16):
        mid = (lo + hi) / 2
        n = psnr_runs(images, mid)
        if abs(n - runs) < abs(best[1] - runs):
            best = (mid, n)
        if n > runs:
            hi = mid  # too many runs: a lower threshold skips more
        else:
            lo = mid
    return best[0]


def agreement(masks: list[np.ndarray], reference: list[np.ndarray]) -> dict[str, float]:
    ious = np.array([region_iou(m > 0.5, r > 0.5) for m, r in zip(masks, reference, strict=True)])
    return {"agreement_iou": round(float(ious.mean()), 4),
            "agreement_iou_worst_1pct": round(float(np.percentile(ious, 1)), 4),
            "agreement_iou_min": round(float(ious.min()), 4)}


def gt_scores(clip: Path, masks: list[np.ndarray]) -> dict[str, float] | None:
    if not is_davis_folder(clip):
        return None
    score = SequenceScore()
    names = sorted(p.stem for p in (clip / "JPEGImages").glob("*.jpg"))
    for name, alpha in zip(names, masks, strict=False):
        score.add(alpha, load_gt(clip / "Annotations" / f"{name}.png", alpha.shape))
    s = score.summary()
    return {"iou": round(s["iou"], 4), "boundary_f": round(s["boundary_f"], 4), "flicker": round(s["flicker"], 5)}


def evaluate(clip: Path, thresholds: list[float]) -> dict[str, Any]:
    images, reference, ref_doc = run_job(clip, 0.0)
    rows: list[dict[str, Any]] = [{"way": "every frame", **ref_doc, **agreement(reference, reference),
                                   "truth": gt_scores(clip, reference)}]
    for t in thresholds:
        _, gated, doc = run_job(clip, t)
        rows.append({"way": f"gate {t:g}", **doc, **agreement(gated, reference), "truth": gt_scores(clip, gated)})
        db = matched_psnr(images, doc["segmented"])
        _, frozen, fdoc = run_job(clip, t, psnr_db=db)
        rows.append({"way": f"whole-frame PSNR ≥ {db:.1f} dB", **fdoc, **agreement(frozen, reference),
                     "truth": gt_scores(clip, frozen)})
    h, w = images[0].shape[:2]
    return {"clip": clip.name, "size": f"{w}x{h}", "rows": rows}


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Change gate ({results['created']})", "",
             f"`{results['command']}` · {results['machine']['cpus']} CPUs · load average {results['load_before']} → "
             f"{results['load_after']}", "",
             "Agreement: IoU (alpha > 0.5) with the every-frame masks, mean and worst 1 % of frames. The "
             "whole-frame PSNR rows run the same pipeline with the OBS plugin's criterion at the gate's number of "
             "model runs. CPU: the pipeline threads' CPU per frame. Truth: DAVIS ground truth, IoU / boundary F / "
             "flicker.", "",
             "| clip | way | segmented | CPU ms/frame | agreement IoU (worst 1 %) | truth IoU / F / flicker |",
             "|---|---|---:|---:|---:|---|"]
    for clip in results["clips"]:
        for r in clip["rows"]:
            truth = r["truth"]
            t = f"{truth['iou']:.3f} / {truth['boundary_f']:.3f} / {truth['flicker']:.4f}" if truth else ""
            cpu = "" if r["cpu_ms_per_frame"] is None else f"{r['cpu_ms_per_frame']:.1f}"
            lines.append(f"| {clip['clip']} ({clip['size']}) | {r['way']} | {r['segmented']}/{r['frames']} | {cpu} | "
                         f"{r['agreement_iou']:.3f} ({r['agreement_iou_worst_1pct']:.3f}) | {t} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", type=Path, help="videos or DAVIS-style folders")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[LIVE_GATE])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)
    cv2.setNumThreads(max(1, os.cpu_count() or 1))
    load0 = [round(x, 2) for x in os.getloadavg()]
    clips = [evaluate(c, args.thresholds) for c in args.clips]
    given = args.thresholds != [LIVE_GATE]  # the command line written back, without the default
    thresholds = f" --thresholds {' '.join(f'{t:g}' for t in args.thresholds)}" if given else ""
    results = {"created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "command": "python benchmarks/gate.py " + " ".join(str(c) for c in args.clips) + thresholds,
               "machine": machine_info(), "load_before": load0, "load_after": [round(x, 2) for x in os.getloadavg()],
               "clips": clips}
    write_outputs(results, markdown(results), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
