"""Mask quality on DAVIS-style folders: raw model vs each smoothing/refinement option vs the default.

For each sequence (``JPEGImages/*.jpg`` + ``Annotations/*.png``) and each configuration it reports
region IoU (alpha > 0.5), DAVIS boundary F (tolerance 0.008 x diagonal) and flicker (mean
|alpha_t - alpha_t-1| over pixels whose ground-truth label is unchanged and > 5 px from either
frame's boundary), writes JSON and a markdown table, and can draw alpha-over-time images for one
pixel row (``--plot-row``) so the flicker can be seen. It also times the default mask path against
the raw model on 720p frames (``--cost-input``).

The measurement lives in ``rtseg.bench.quality``; this script is its command line.

    python benchmarks/quality.py ../shared/data/davis/lucia ../shared/data/davis/dance-twirl \
        --json benchmarks/results/quality.json --markdown benchmarks/results/quality.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from common import write_outputs

from rtseg.bench.quality import (
    MaskVariant,
    evaluate_all,
    is_davis_folder,
    markdown,
    render_edges,
    rvm_variant,
    time_cost,
    variants,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequences", nargs="+", type=Path, help="DAVIS-style folders (JPEGImages/, Annotations/)")
    ap.add_argument("--only", nargs="*", help="run only these configuration names")
    ap.add_argument("--json", type=Path, help="write results here")
    ap.add_argument("--markdown", type=Path, help="write the table here")
    ap.add_argument("--plot-row", type=float, help="row (0..1 of the height) for alpha-over-time images")
    ap.add_argument("--plot-dir", type=Path, default=Path("benchmarks/results/flicker"))
    ap.add_argument("--cost-input", type=Path, help="720p video to time the default mask path on")
    ap.add_argument("--edges-dir", type=Path, help="write head/arm crops (input and each --edges configuration) here")
    ap.add_argument("--edges", nargs="*", default=["default, refine none (before)", "default", "rvm (--quality high)"],
                    help="configurations shown side by side in the edge crops")
    ap.add_argument("--rvm-dir", type=Path, help="also score `--quality high` (the folder `rtseg import-rvm` wrote)")
    args = ap.parse_args(argv)

    for seq in args.sequences:
        if not is_davis_folder(seq):
            ap.error(f"{seq} is not a DAVIS-style folder (JPEGImages/ and Annotations/)")
    every = variants() + ([rvm_variant(args.rvm_dir)] if args.rvm_dir else [])
    chosen = [v for v in every if not args.only or v.name in args.only]

    def show(seq: str, v: MaskVariant, summary: dict[str, float], kymo: np.ndarray | None) -> None:
        print(f"{seq:14s} {v.name:32s} IoU {summary['iou']:.4f}  F {summary['boundary_f']:.4f}  "
              f"flicker {summary['flicker']:.5f}  leak {summary['outside_leak']:.3f}  "
              f"loss {summary['inside_loss']:.3f}", file=sys.stderr)
        if kymo is not None:
            args.plot_dir.mkdir(parents=True, exist_ok=True)
            safe = "".join(c if c.isalnum() else "_" for c in v.name)
            cv2.imwrite(str(args.plot_dir / f"{seq}-{safe}.png"),
                        cv2.resize((kymo * 255).astype(np.uint8), None, fx=1, fy=4, interpolation=cv2.INTER_NEAREST))

    results = evaluate_all(args.sequences, chosen, args.plot_row, on_result=show)
    if args.cost_input:
        results["cost_720p"] = time_cost(args.cost_input)
        print(f"cost: {results['cost_720p']}", file=sys.stderr)
    if args.edges_dir:
        shown = [v for name in args.edges for v in every if v.name == name]
        for seq in args.sequences:
            print(f"edges: {render_edges(seq, shown, args.edges_dir)}", file=sys.stderr)
    write_outputs(results, markdown(results), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
