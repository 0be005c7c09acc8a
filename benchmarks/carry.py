"""Carry-forward accuracy on DAVIS-style folders: optical flow vs holding the stale mask.

Ground-truth masks stand in for inference on every K-th frame; the frames in between get the newest
"inferred" mask either moved by optical flow (``Carrier``, as ``--infer-every K`` moves it) or held
as it was (stale). IoU and boundary F are measured against ground truth on all frames.

``--live`` measures the live path instead: inference takes K frames, so the mask of frame j arrives
at frame j + K and is the newest until j + 2K (ages K..2K-1); it is moved by the carrier with the
live settings (mask at 320 px, fade-in over 2 frames) or held (stale).

The measurement lives in ``rtseg.bench.carry``; this script is its command line.

    python benchmarks/carry.py ../shared/data/davis/* --json benchmarks/results/carry.json \
        --markdown benchmarks/results/carry.md
    python benchmarks/carry.py ../shared/data/davis/* --live --json benchmarks/results/carry_live.json \
        --markdown benchmarks/results/carry_live.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import write_outputs

from rtseg.bench.carry import PRESETS, evaluate, file_options, live_options, markdown
from rtseg.temporal.carry import CarryOptions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sequences", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--live", action="store_true", help="masks arrive K frames late (the live path)")
    default = CarryOptions()
    preset_name = {value: name for name, value in PRESETS.items()}[default.preset]
    ap.add_argument("--flow-width", type=int, help=f"DIS image width (default: {default.flow_width})")
    ap.add_argument("--preset", choices=sorted(PRESETS), help=f"DIS preset (default: {preset_name})")
    args = ap.parse_args(argv)
    base = live_options() if args.live else file_options()
    options = CarryOptions(args.flow_width or base.flow_width, PRESETS[args.preset] if args.preset else base.preset)

    def show(seq: str, k: int, method: str, r: dict[str, float]) -> None:
        print(f"{seq:12s} K={k} {method:5s} IoU {r['iou']:.4f} F {r['boundary_f']:.4f}", file=sys.stderr)

    results = evaluate(args.sequences, live=args.live, options=options, on_result=show)
    if not results["sequences"]:
        ap.error("no DAVIS-style folder (with Annotations/) among the sequences")
    write_outputs(results, markdown(results), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
