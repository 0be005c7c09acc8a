"""EdgeTAM tracking speed: rtseg's EdgeTAM vs rtseg's SAM 2.1 tiny at 1024 vs EdgeTAM's PyTorch predictor.

Same run, same machine, same frames (the SAM 2 notebook video), same prompt (one click on frame 0),
all on CPU with the same thread count; weights are seeded random exports (speed does not depend on
the values). Per frame, wall time and the process's CPU time; "steady" frames are those with a full
memory bank (frame >= num_maskmem = 7), the cost a long video settles at. Order: rtseg EdgeTAM, the
PyTorch reference (a subprocess in the EdgeTAM environment), rtseg SAM 2.1 tiny, rtseg EdgeTAM again;
the EdgeTAM figures are the median over both of its runs, so a drift in machine speed shows as a gap
between them (reported). Then a long run of rtseg's EdgeTAM checks that its memory stays flat: the
memory bank's bytes and the process's resident memory per frame.

Models (exported once, outside the repo)::

    PYTHONPATH=tests/edgetam_harness .venv-edgetam/bin/rtseg export-sam2 --variant edgetam \\
        --random-weights 0 --out /tmp/bm/edgetam
    rtseg export-sam2 --variant tiny --image-size 1024 --random-weights 0 --out /tmp/bm/sam2-tiny-1024
    python benchmarks/edgetam_speed.py --edgetam /tmp/bm/edgetam --sam2 /tmp/bm/sam2-tiny-1024 \\
        --out benchmarks/results/edgetam_speed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sam2-bedroom"

from common import machine_info, write_outputs  # noqa: E402  (run as python benchmarks/edgetam_speed.py)

POINT = (210.0, 350.0)
STEADY_FROM = 7


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run_rtseg(model_dir: Path, frames: list[Any], threads: int) -> dict[str, Any]:
    """Track one clicked object; per frame: wall s, CPU s, per-graph s, memory bank bytes, RSS."""
    from rtseg.segment.sam2.tracker import Sam2Tracker

    out: dict[str, Any] = {"frame_s": [], "cpu_s": [], "graphs_s": [], "bank_bytes": [], "rss_bytes": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracker = Sam2Tracker(model_dir, provider="cpu", intra_op_threads=threads).open()
    with tracker:
        tracker.add_points(0, 1, [POINT], [1])
        for i, rgb in enumerate(frames):
            tracker.timings.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            tracker.track(rgb, i)
            out["frame_s"].append(time.perf_counter() - t0)
            out["cpu_s"].append(time.process_time() - c0)
            out["graphs_s"].append(dict(tracker.timings))
            out["bank_bytes"].append(tracker.memory_size())
            out["rss_bytes"].append(rss_bytes())
        out["architecture"] = tracker.model.architecture
        out["image_size"] = tracker.image_size
    return out


def run_torch(model_dir: Path, frames_dir: Path, threads: int, python: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests" / "edgetam_harness")}
    proc = subprocess.run([str(python), str(ROOT / "benchmarks" / "edgetam_torch.py"), str(model_dir),
                           str(frames_dir), "--threads", str(threads), "--point", f"{POINT[0]},{POINT[1]}"],
                          capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"EdgeTAM's PyTorch predictor failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def steady(values: list[float]) -> float:
    return statistics.median(values[STEADY_FROM:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgetam", type=Path, required=True, help="rtseg export of EdgeTAM (1024)")
    parser.add_argument("--sam2", type=Path, required=True, help="rtseg export of SAM 2.1 tiny at 1024")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--long", type=int, default=60, help="frames of the memory run (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--edgetam-python", type=Path,
                        default=Path(os.environ.get("RTSEG_EDGETAM_PYTHON", ROOT / ".venv-edgetam/bin/python")))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/edgetam_speed",
                        help="writes OUT.json and OUT.md")
    args = parser.parse_args()

    from rtseg.segment.sam2.ops import load_frame

    names = sorted(p for p in DATA.iterdir() if p.suffix == ".jpg")
    frames = [load_frame(p) for p in names[: args.frames]]
    load = {"start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        for i, p in enumerate(names[: args.frames]):
            (Path(tmp) / f"{i:05d}.jpg").symlink_to(p)
        edgetam_1 = run_rtseg(args.edgetam, frames, args.threads)
        torch_ref = run_torch(args.edgetam, Path(tmp), args.threads, args.edgetam_python)
        sam2 = run_rtseg(args.sam2, frames, args.threads)
        edgetam_2 = run_rtseg(args.edgetam, frames, args.threads)
    load["after_speed"] = [round(x, 2) for x in os.getloadavg()]

    def both(key: str) -> float:
        return statistics.median(edgetam_1[key][STEADY_FROM:] + edgetam_2[key][STEADY_FROM:])

    et_wall, et_cpu = both("frame_s"), both("cpu_s")
    result: dict[str, Any] = {
        "workload": f"one clicked object, frames 0..{args.frames - 1} of sam2-bedroom (960x540), CPU, "
                    f"{args.threads} threads; steady = frames >= {STEADY_FROM}",
        "machine": machine_info(),
        "load_average": load,
        "edgetam_rtseg": {"steady_frame_ms": round(1000 * et_wall, 1), "steady_cpu_ms": round(1000 * et_cpu, 1),
                          "run1_steady_ms": round(1000 * steady(edgetam_1["frame_s"]), 1),
                          "run2_steady_ms": round(1000 * steady(edgetam_2["frame_s"]), 1),
                          "graphs_steady_ms": {g: round(1000 * statistics.median(
                              [x[g] for x in (edgetam_1["graphs_s"] + edgetam_2["graphs_s"])[STEADY_FROM:]
                               if g in x] or [0.0]), 1) for g in edgetam_1["graphs_s"][-1]},
                          "per_frame_ms": [round(1000 * t, 1) for t in edgetam_1["frame_s"]]},
        "sam2_tiny_1024_rtseg": {"steady_frame_ms": round(1000 * steady(sam2["frame_s"]), 1),
                                 "steady_cpu_ms": round(1000 * steady(sam2["cpu_s"]), 1),
                                 "graphs_steady_ms": {g: round(1000 * statistics.median(
                                     x[g] for x in sam2["graphs_s"][STEADY_FROM:]), 1) for g in sam2["graphs_s"][-1]},
                                 "per_frame_ms": [round(1000 * t, 1) for t in sam2["frame_s"]]},
        "edgetam_pytorch": {"steady_frame_ms": round(1000 * steady(torch_ref["frame_s"]), 1),
                            "steady_cpu_ms": round(1000 * steady(torch_ref["cpu_s"]), 1),
                            "per_frame_ms": [round(1000 * t, 1) for t in torch_ref["frame_s"]],
                            "torch": torch_ref["torch"]},
    }
    result["speedup_vs_sam2_tiny_1024"] = round(steady(sam2["frame_s"]) / et_wall, 2)
    result["speedup_vs_sam2_tiny_1024_cpu"] = round(steady(sam2["cpu_s"]) / et_cpu, 2)
    result["speedup_vs_edgetam_pytorch"] = round(steady(torch_ref["frame_s"]) / et_wall, 2)
    result["speedup_vs_edgetam_pytorch_cpu"] = round(steady(torch_ref["cpu_s"]) / et_cpu, 2)

    if args.long:
        names_long = names[: args.long]
        long = run_rtseg(args.edgetam, [load_frame(p) for p in names_long], args.threads)
        bank, rss = long["bank_bytes"], long["rss_bytes"]
        settle = min(17, len(bank) - 1)  # 16 frames of pointers (and 6 of memories) are held from frame 17 on
        result["memory_long_run"] = {
            "frames": len(bank), "bank_bytes_at": {str(i): bank[i] for i in (1, 7, settle, len(bank) - 1)},
            "bank_bytes_max_after_settling": max(bank[settle:]),
            "rss_mib_at": {str(i): round(rss[i] / 2**20, 1) for i in (1, 7, settle, len(rss) - 1)},
            "rss_growth_mib_after_settling": round((max(rss[settle:]) - rss[settle]) / 2**20, 1),
            "steady_frame_ms": round(1000 * statistics.median(long["frame_s"][STEADY_FROM:]), 1),
        }
    load["end"] = [round(x, 2) for x in os.getloadavg()]

    e, s, t = result["edgetam_rtseg"], result["sam2_tiny_1024_rtseg"], result["edgetam_pytorch"]
    rows = [
        f"| tracker (one object, 1024, CPU, {args.threads} threads) | steady ms / frame | CPU ms / frame "
        "| rtseg EdgeTAM is |",
        "|---|---:|---:|---:|",
        f"| rtseg EdgeTAM (runs: {e['run1_steady_ms']:.0f} / {e['run2_steady_ms']:.0f}) | {e['steady_frame_ms']:.0f} | "
        f"{e['steady_cpu_ms']:.0f} | 1.00x |",
        f"| EdgeTAM PyTorch predictor | {t['steady_frame_ms']:.0f} | {t['steady_cpu_ms']:.0f} | "
        f"{result['speedup_vs_edgetam_pytorch']:.2f}x faster (CPU {result['speedup_vs_edgetam_pytorch_cpu']:.2f}x) |",
        f"| rtseg SAM 2.1 tiny at 1024 | {s['steady_frame_ms']:.0f} | {s['steady_cpu_ms']:.0f} | "
        f"{result['speedup_vs_sam2_tiny_1024']:.2f}x faster (CPU {result['speedup_vs_sam2_tiny_1024_cpu']:.2f}x) |",
        "",
        "| graph (steady median ms) | " + " | ".join(e["graphs_steady_ms"]) + " |",
        "|---|" + "---:|" * len(e["graphs_steady_ms"]),
        "| rtseg EdgeTAM | " + " | ".join(f"{v:.0f}" for v in e["graphs_steady_ms"].values()) + " |",
        "| rtseg SAM 2.1 tiny 1024 | " + " | ".join(f"{s['graphs_steady_ms'].get(g, 0):.0f}"
                                                  for g in e["graphs_steady_ms"]) + " |",
        "",
    ]
    if "memory_long_run" in result:
        m = result["memory_long_run"]
        rows.append(f"Memory over {m['frames']} frames (rtseg EdgeTAM): bank bytes at frames "
                    + ", ".join(f"{k}: {v:,}" for k, v in m["bank_bytes_at"].items())
                    + f"; max after settling {m['bank_bytes_max_after_settling']:,}; resident memory grows "
                    f"{m['rss_growth_mib_after_settling']} MiB after frame {settle}.")
    rows.append(f"Load average: start {load['start']}, after the speed runs {load['after_speed']}, end {load['end']}.")
    table = "\n".join(rows) + "\n"
    write_outputs(result, table, args.out.with_suffix(".json"), args.out.with_suffix(".md"))


if __name__ == "__main__":
    main()
