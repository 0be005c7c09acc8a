"""SAM 2 tracking before and after a change: this checkout against another commit, in the same run.

Each side runs in its own process (the other commit from a temporary ``git worktree`` on
``PYTHONPATH``), on the same export, frames and click, with the same thread count; sides alternate
(``--rounds`` each) so machine load hits both alike. Per side: the steady per-frame wall and CPU
milliseconds (frames with a full memory bank), the memory bank's bytes at the end, the process's
peak resident memory, and a checksum of the masks (equal checksums: the same results bit for bit).

    python benchmarks/sam2_before_after.py --base 47962f0 --model-dir /tmp/sam2-tiny-512 \\
        --out benchmarks/results/sam2_before_after
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import machine_info, write_outputs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sam2-bedroom"

SIDE = r"""
import hashlib, inspect, json, resource, statistics, sys, time, warnings
from pathlib import Path
import numpy as np
from PIL import Image
warnings.simplefilter("ignore")
from rtseg.segment.sam2.tracker import Sam2Tracker
model_dir, data, n, threads = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
frames = [np.asarray(Image.open(data / f"{i:05d}.jpg").convert("RGB")) for i in range(n)]
wall, cpu, digest = [], [], hashlib.sha256()
choice = "provider" if "provider" in inspect.signature(Sam2Tracker).parameters else "device"  # older commits
with Sam2Tracker(model_dir, **{choice: "cpu"}, intra_op_threads=threads) as t:
    t.add_points(0, 1, [(210.0, 350.0)], [1])
    t.add_box(2, 2, [400.0, 100.0, 700.0, 400.0])
    for i, rgb in enumerate(frames):
        w0, c0 = time.perf_counter(), time.process_time()
        r = t.track(rgb, i)
        wall.append(time.perf_counter() - w0); cpu.append(time.process_time() - c0)
        digest.update(np.ascontiguousarray(r.low_res_logits).tobytes())
    bank = t.memory_size()
import rtseg
print(json.dumps({"wall": wall, "cpu": cpu, "bank_bytes": bank, "sha256": digest.hexdigest(), "rtseg": rtseg.__file__,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_side(pythonpath: Path, model_dir: Path, frames: int, threads: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    proc = subprocess.run([sys.executable, "-c", SIDE, str(model_dir), str(DATA), str(frames), str(threads)],
                          capture_output=True, text=True, env=env, timeout=3600, cwd=pythonpath)
    if proc.returncode != 0:
        raise SystemExit(f"side {pythonpath} failed:\n{proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    if not Path(doc["rtseg"]).is_relative_to(pythonpath):
        raise SystemExit(f"side {pythonpath} imported rtseg from {doc['rtseg']}")
    return doc  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare against (e.g. the one before a change)")
    ap.add_argument("--model-dir", type=Path, required=True, help="an `rtseg export-sam2` folder")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steady-from", type=int, default=17, help="first frame counted (memory and pointers full)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sam2_before_after")
    args = ap.parse_args()

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    load0 = [round(x, 2) for x in os.getloadavg()]
    runs: dict[str, list[dict[str, Any]]] = {"base": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="rtseg-base-") as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            for i in range(args.rounds):
                order = [("base", base_tree), ("head", ROOT)] if i % 2 == 0 else [("head", ROOT), ("base", base_tree)]
                for side, path in order:
                    runs[side].append(run_side(path, args.model_dir, args.frames, args.threads))
                    print(side, i, statistics.median(runs[side][-1]["wall"][args.steady_from:]), file=sys.stderr)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, capture_output=True)

    def summary(side: str) -> dict[str, Any]:
        rs = runs[side]
        wall = [w for r in rs for w in r["wall"][args.steady_from:]]
        cpu = [c for r in rs for c in r["cpu"][args.steady_from:]]
        return {"steady_frame_ms": round(1000 * statistics.median(wall), 1),
                "steady_cpu_ms": round(1000 * statistics.median(cpu), 1),
                "bank_bytes": rs[-1]["bank_bytes"], "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs), 1),
                "sha256": sorted({r["sha256"] for r in rs})}

    base, now = summary("base"), summary("head")
    doc = {"base": args.base, "head": head, "model_dir": str(args.model_dir), "frames": args.frames,
           "rounds": args.rounds, "threads": args.threads, "steady_from": args.steady_from,
           "machine": machine_info(), "load_average": {"start": load0, "end": [round(x, 2) for x in os.getloadavg()]},
           "base_result": base, "head_result": now,
           "wall_ratio_head_over_base": round(now["steady_frame_ms"] / base["steady_frame_ms"], 3),
           "cpu_ratio_head_over_base": round(now["steady_cpu_ms"] / base["steady_cpu_ms"], 3),
           "same_masks": base["sha256"] == now["sha256"] and len(now["sha256"]) == 1}
    table = "\n".join([
        f"| SAM 2 ({args.model_dir.name}), two objects, {args.frames} frames, {args.threads} threads, "
        f"{args.rounds} alternating rounds | steady ms / frame | CPU ms / frame | memory bank bytes | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
        f"| base {args.base} | {base['steady_frame_ms']} | {base['steady_cpu_ms']} | {base['bank_bytes']:,} | "
        f"{base['peak_rss_mib']} |",
        f"| head {head} | {now['steady_frame_ms']} | {now['steady_cpu_ms']} | {now['bank_bytes']:,} | "
        f"{now['peak_rss_mib']} |",
        "",
        f"head / base: wall {doc['wall_ratio_head_over_base']}, CPU {doc['cpu_ratio_head_over_base']}; masks "
        f"{'bit-identical' if doc['same_masks'] else 'DIFFER'}; load {doc['load_average']}.",
    ]) + "\n"
    write_outputs(doc, table, args.out.with_suffix(".json"), args.out.with_suffix(".md"))


if __name__ == "__main__":
    main()
