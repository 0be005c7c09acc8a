"""Interactive SAM 2 latency: a click on an encoded frame, the first click on a new frame, and
re-propagation per frame with and without cached image features.

SAM 2.1 tiny with seeded random weights (speed does not depend on the weights), exported at each
image size (or given with ``--model-dir-512`` / ``--model-dir-1024``), on the SAM 2 notebook frames
(960x540). ONNX Runtime on the CPU with ``--threads`` intra-op threads. Medians over the repeats;
the load average is recorded before and after.

    python benchmarks/sam2_interactive.py --json benchmarks/results/sam2_interactive.json \
        --markdown benchmarks/results/sam2_interactive.md [--edgetam EDGETAM_EXPORT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from common import machine_info, write_outputs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sam2-bedroom"
CLICKS = [(210.0, 350.0, 1), (600.0, 300.0, 0), (300.0, 200.0, 1), (700.0, 120.0, 0), (450.0, 400.0, 1)]


def _ms(t0: float) -> float:
    return 1000 * (time.perf_counter() - t0)


def measure(model_dir: Path, frames: list[Any], threads: int, repeats: int) -> dict[str, Any]:
    from rtseg.segment.sam2.interactive import InteractiveSession
    from rtseg.segment.sam2.model import TrackerModel

    n = len(frames)
    with warnings.catch_warnings(), TrackerModel(model_dir, intra_op_threads=threads) as tracker:
        warnings.simplefilter("ignore")
        # warm-up: every graph once
        warm = InteractiveSession(tracker, lambda i: frames[i], n)
        warm.add_points(0, 1, [CLICKS[0][:2]], [1])
        list(warm.propagate(end=1))

        first_click, click = [], []
        for r in range(repeats):
            session = InteractiveSession(tracker, lambda i: frames[i], n)
            frame = r % n
            t0 = time.perf_counter()
            session.add_points(frame, 1, [CLICKS[0][:2]], [1])  # the frame is not encoded yet
            first_click.append(_ms(t0))
            for x, y, label in CLICKS[1:]:
                t0 = time.perf_counter()
                session.add_points(frame, 1, [(x, y)], [label], clear_old_points=False)
                click.append(_ms(t0))

        def repropagate(budget: int | None) -> list[float]:
            kwargs = {} if budget is None else {"feature_budget_bytes": budget}
            session = InteractiveSession(tracker, lambda i: frames[i], n, corrections_as_conditioning=True, **kwargs)
            session.add_points(0, 1, [CLICKS[0][:2]], [1])
            list(session.propagate())
            k = n // 2
            session.add_points(k, 1, [CLICKS[1][:2]], [0], clear_old_points=False)
            per_frame = []
            t0 = time.perf_counter()
            for _ in session.propagate(k):
                per_frame.append(_ms(t0))
                t0 = time.perf_counter()
            return per_frame[1:]  # frame k itself is the stored correction

        cached = repropagate(None)
        uncached = repropagate(0)
        probe = InteractiveSession(tracker, lambda i: frames[i], n)
        per_frame_bytes = probe.feature_bytes_per_frame
    return {"click_ms": round(statistics.median(click), 2), "first_click_ms": round(statistics.median(first_click), 2),
            "repropagate_ms_per_frame_cached": round(statistics.median(cached), 2),
            "repropagate_ms_per_frame_uncached": round(statistics.median(uncached), 2),
            "clicks": len(click), "first_clicks": len(first_click), "repropagated_frames": len(cached),
            "feature_bytes_per_frame": per_frame_bytes, "threads": threads}


def markdown(doc: dict[str, Any]) -> str:
    lines = [f"# Interactive SAM 2 latency ({doc['date']}, {doc['machine']['cpus']} CPUs, ONNX Runtime CPU, "
             f"{doc['threads']} threads)", "", f"Command: `{doc['command']}`; SAM 2.1 tiny (and EdgeTAM with "
             "--edgetam), random weights, 960x540 frames; medians.", "",
             "| model, image size | click on an encoded frame ms | first click on a new frame ms | "
             "re-propagation ms/frame, cached features | uncached | features per frame | load before → after |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for size, r in doc["sizes"].items():
        label = size if size.startswith("EdgeTAM") else f"SAM 2.1 tiny, {size}"
        lines.append(f"| {label} | {r['click_ms']} | {r['first_click_ms']} | {r['repropagate_ms_per_frame_cached']} | "
                     f"{r['repropagate_ms_per_frame_uncached']} | {r['feature_bytes_per_frame'] / 2**20:.0f} MiB | "
                     f"{r['load_before']} → {r['load_after']} |")
    target = doc["sizes"].get("512", {}).get("click_ms")
    if target is not None:
        lines += ["", f"Target: a click at 512 within 30 ms: {'met' if target <= 30 else 'NOT met'} ({target} ms)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--model-dir-512", type=Path)
    ap.add_argument("--model-dir-1024", type=Path)
    ap.add_argument("--edgetam", type=Path, help="also measure this EdgeTAM export (1024)")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)

    from rtseg.segment.sam2.ops import load_frame

    frames = [load_frame(DATA / f"{i:05d}.jpg") for i in range(args.frames)]
    doc: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
                           "threads": args.threads, "sizes": {},
                           "command": " ".join(["python benchmarks/sam2_interactive.py", *(argv or sys.argv[1:])])}
    with tempfile.TemporaryDirectory(prefix="rtseg-sam2-interactive-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            model_dir = getattr(args, f"model_dir_{size}", None)
            if model_dir is None:
                from rtseg.tools.sam2.export import export_sam2

                print(f"exporting tiny at {size} (random weights) ...", flush=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model_dir = export_sam2(Path(tmp) / f"tiny-{size}", "tiny", size, random_seed=0)
            load = os.getloadavg()[0]
            result = measure(model_dir, frames, args.threads, args.repeats)
            result.update(load_before=round(load, 2), load_after=round(os.getloadavg()[0], 2))
            doc["sizes"][str(size)] = result
            print(size, result, flush=True)
    if args.edgetam is not None:
        load = os.getloadavg()[0]
        result = measure(args.edgetam, frames, args.threads, args.repeats)
        result.update(load_before=round(load, 2), load_after=round(os.getloadavg()[0], 2))
        doc["sizes"]["EdgeTAM, 1024"] = result
        print("EdgeTAM", result, flush=True)
    write_outputs(doc, markdown(doc), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
