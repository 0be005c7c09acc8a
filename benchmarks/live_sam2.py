"""Live SAM 2 benchmark: ``rtseg webcam --source juggle --realtime --model sam2`` with a point.

Runs the command a user would (a subprocess per run, ``configs/webcam-sam2.toml`` for the model and
carry settings; its prompt is on the half-size sample clip, so the juggler's shirt at full size is
given with ``--point``), reads its ``--stats-json`` and writes one JSON document with every run, the
machine's load before and after each, and whether each target was met: output fps >= 23.5 (the clip is 24 fps), 0 camera
frames lost before the sink, SAM 2 results about once a second (0.5-2 per second), and the stats
showing the inference rate and carry-forward age. Variants run alternately (so machine load hits
them alike): ONNX Runtime on 1 or 2 threads, and carry-forward on or off (the stale baseline).

    python benchmarks/live_sam2.py --model-dir /tmp/sam2-tiny-512         # 20 s per run
    python benchmarks/live_sam2.py --export /tmp/sam2-tiny-512 --duration 10 --variant t1-carry
    python benchmarks/live_sam2.py --model-dir /tmp/sam2-tiny-512 --edgetam /tmp/edgetam \\
        --variant t1-carry --variant edgetam-t1-carry --variant edgetam-t2-carry --repeat 2

Other processes skew every number: the 1-minute load average is recorded, and a run started above
``--max-load`` is flagged ``loaded``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_info, run_rtseg, write_report

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "data" / "gallery" / "05_default_juggle.mp4"
CONFIG = ROOT / "configs" / "webcam-sam2.toml"
POINT = "700,240"  # the juggler's shirt in the 1280x720 clip (the config's point is on the 640x360 sample)
MIN_FPS = 23.5
RATE_HZ = (0.5, 2.0)

VARIANTS = {
    "t1-carry": ["--threads", "1"],
    "t2-carry": ["--threads", "2"],
    "t1-stale": ["--threads", "1", "--no-carry"],
    # EdgeTAM (--edgetam DIR, an EdgeTAM export at 1024) through the same command: the rate is reported,
    # not held to SAM 2 tiny-at-512's once-a-second target
    "edgetam-t1-carry": ["--threads", "1"],
    "edgetam-t2-carry": ["--threads", "2"],
}


def run_once(model_dir: Path, duration: float, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "stats.json"
        cmd = [sys.executable, "-m", "rtseg", "webcam", "--config", os.path.relpath(CONFIG, ROOT),
               "--source", os.path.relpath(CLIP, ROOT), "--realtime", "--model-dir", str(model_dir),
               "--point", POINT, "--sink", "null", "--duration", f"{duration:g}", "--stats-json", str(stats),
               "--no-status", *extra]
        return run_rtseg(cmd, stats, ROOT, timeout=duration + 180)


def verdict(doc: dict, rate_target: bool = True) -> dict:
    live = doc["live"]
    rate = live["inference"]["rate_hz"]
    ages = live["carry"]["age_frames"]
    checks = {
        "fps": (doc["fps"], f">= {MIN_FPS}", doc["fps"] >= MIN_FPS),
        "dropped": (doc["dropped"], "== 0", doc["dropped"] == 0),
        "inference_rate_hz": (rate, f"in [{RATE_HZ[0]}, {RATE_HZ[1]}]" if rate_target else "> 0 (reported)",
                              RATE_HZ[0] <= rate <= RATE_HZ[1] if rate_target else rate > 0),
        "carry_age_in_stats": ([ages["p50"], ages["p99"]], "p50, p99 present", {"p50", "p99"} <= set(ages)),
    }
    return {k: {"value": v, "target": t, "ok": ok} for k, (v, t, ok) in checks.items()}


def summary(doc: dict) -> dict:
    live = doc["live"]
    return {"fps": doc["fps"], "dropped": doc["dropped"], "cpu_percent": doc["cpu_percent"],
            "latency_p99_ms": doc["latency_ms"]["p99"], "inference_rate_hz": live["inference"]["rate_hz"],
            "inference_ms_p50": live["inference"]["ms"]["p50"], "carry_age_frames": live["carry"]["age_frames"],
            "carry_stage_ms": doc["stages"].get("carry", {}), "composite_ms": doc["stages"].get("composite", {}),
            "fail_closed_frames": live["fail_closed_frames"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", type=Path, help="an `rtseg export-sam2` directory (tiny at 512)")
    ap.add_argument("--export", type=Path, help="export tiny at 512 with random weights here first (if missing)")
    ap.add_argument("--edgetam", type=Path, help="an EdgeTAM export (1024) for the edgetam-* variants")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    ap.add_argument("--max-load", type=float, default=0.7, help="flag runs started above this 1-min load average")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "live_sam2.json")
    args = ap.parse_args()

    model_dir = args.model_dir or args.export
    if model_dir is None:
        raise SystemExit("give --model-dir DIR or --export DIR")
    if not (model_dir / "manifest.json").is_file():
        if args.export is None:
            raise SystemExit(f"{model_dir} has no manifest.json: export it with --export {model_dir}")
        subprocess.run([sys.executable, "-m", "rtseg", "export-sam2", "--random-weights", "0", "--variant", "tiny",
                        "--image-size", "512", "--out", str(model_dir)], cwd=ROOT, check=True)

    names = args.variant or [n for n in VARIANTS if args.edgetam is not None or not n.startswith("edgetam-")]
    if any(n.startswith("edgetam-") for n in names) and args.edgetam is None:
        raise SystemExit("the edgetam-* variants need --edgetam DIR (an EdgeTAM export)")

    def model_of(name: str) -> Path:
        return args.edgetam if name.startswith("edgetam-") else model_dir

    run_once(model_of(names[0]), 3.0, VARIANTS[names[0]])  # warm-up: page cache, model files, CPU clocks; discarded

    results = []
    for i in range(args.repeat):
        for name in names:
            r = run_once(model_of(name), args.duration, VARIANTS[name])
            r.update({"variant": name, "model_dir": str(model_of(name)), "repeat": i,
                      "loaded": r["load_before"][0] > args.max_load,
                      "checks": verdict(r["stats"], rate_target=not name.startswith("edgetam-")),
                      "summary": summary(r["stats"])})
            r["ok"] = all(c["ok"] for c in r["checks"].values())
            results.append(r)
            s = r["summary"]
            print(f"{name} #{i}: {s['fps']:.2f} fps, dropped {s['dropped']}, results {s['inference_rate_hz']:.2f}/s "
                  f"({s['inference_ms_p50']:.0f} ms), carry age p50 {s['carry_age_frames']['p50']:.0f} "
                  f"p99 {s['carry_age_frames']['p99']:.0f} frames, cpu {s['cpu_percent']:.0f}%, "
                  f"load {r['load_before'][0]:.2f}{' (LOADED)' if r['loaded'] else ''} -> "
                  f"{'ok' if r['ok'] else 'MISSED'}", file=sys.stderr)

    out = {"benchmark": "live_sam2", "machine": machine_info(),
           "clip": str(CLIP.relative_to(ROOT.parent)), "config": str(CONFIG.relative_to(ROOT)),
           "duration_s": args.duration, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results,
           "all_ok": all(r["ok"] for r in results)}
    write_report(args.out, out)


if __name__ == "__main__":
    main()
