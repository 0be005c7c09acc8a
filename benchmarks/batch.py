"""Batch throughput: one `rtseg` process per item (a shell loop, the baseline) vs `rtseg batch` on local
worker processes and on Ray, in the same run.

Workloads: short clips (2 s at 640x360, cut with ffmpeg from the shared gallery and webcam clips at
different offsets) and still photos (DAVIS frames, ``--stills``), for blur and cutout. The loop runs on
a subset of the items (``--loop-clips`` / ``--loop-images``: one process per item costs seconds) and is
reported as a rate; the executors run every item. CPU is the whole machine's (``/proc/stat``) over each
run, so Ray's worker processes (children of the raylet, not of the command) are counted too.

    python benchmarks/batch.py --json benchmarks/results/batch.json --markdown benchmarks/results/batch.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import machine_info, write_outputs

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT.parent / "shared" / "data").resolve()
SOURCES = ["gallery/01_dog.mp4", "gallery/02_cups.mp4", "gallery/03_blocks.mp4", "gallery/04_coffee.mp4",
           "gallery/05_default_juggle.mp4", "webcam/doctor-desk-960x540.mp4", "webcam/thoughtful-640x360.mp4"]


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine so far (user + nice + system + irq + softirq + steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in fields]
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + (ticks[7] if len(ticks) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def make_clips(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    out = []
    for i in range(count):
        src = DATA / SOURCES[i % len(SOURCES)]
        start = 0.5 + 1.3 * (i // len(SOURCES))  # every source is longer than 9 s
        dst = folder / f"clip{i:03d}.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", f"{start:.2f}", "-i", str(src), "-t", "2",
                        "-vf", "scale=640:360", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                        str(dst)], check=True)
        out.append(dst)
    return out


def make_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    frames = sorted(DATA.glob("davis/*/JPEGImages/*.jpg"))
    step = max(1, len(frames) // count)
    out = []
    for src in frames[::step][:count]:
        dst = folder / f"{src.parent.parent.name}-{src.stem}.jpg"
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def measured(cmd: list[str], cwd: Path) -> dict[str, Any]:
    load = os.getloadavg()
    cpu0, t0 = machine_cpu_s(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, machine_cpu_s() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": cpu, "load_before": round(load[0], 2)}


def run_loop(job: str, items: list[Path], out: Path, work: Path) -> dict[str, Any]:
    out.mkdir(parents=True)
    walls, cpus, frames = 0.0, 0.0, 0
    loads = []
    for item in items:
        suffix = ".png" if item.suffix == ".jpg" else (".webm" if job == "cutout" else ".mp4")
        stats = out / f"{item.stem}.json"
        r = measured([sys.executable, "-m", "rtseg", job, str(item), "-o", str(out / (item.stem + suffix)),
                      "--no-progress", "--stats-json", str(stats)], work)
        walls += r["wall_s"]
        cpus += r["cpu_s"]
        loads.append(r["load_before"])
        frames += json.loads(stats.read_text())["frames_out"]
    return {"items": len(items), "frames": frames, "wall_s": walls, "cpu_s": cpus, "load": max(loads),
            "command": f"for f in ITEMS; do rtseg {job} $f -o OUT/...; done"}


def run_batch(job: str, executor: str, folder: Path, out: Path, work: Path, workers: int,
              stills: bool) -> dict[str, Any]:
    stats, report = work / f"stats-{executor}.json", work / f"report-{executor}.jsonl"
    cmd = [sys.executable, "-m", "rtseg", "batch", str(folder), "--job", str(work / f"{job}.toml"), "--out", str(out),
           "--executor", executor, "--workers", str(workers), "--no-resume", "--no-progress",
           "--stats-json", str(stats), "--report", str(report)] + (["--stills"] if stills else [])
    r = measured(cmd, work)
    doc = json.loads(stats.read_text())
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert doc["failed"] == 0, doc
    by_worker: dict[str, list[float]] = {}
    for row in rows:
        by_worker.setdefault(row["worker"], []).append(row["seconds"])
    firsts = [s[0] for s in by_worker.values()]
    rest = [x for s in by_worker.values() for x in s[1:]]
    fixed = sum(doc.get("executor_timings_s", {}).values())
    return {"items": doc["items"], "frames": doc["frames"], "wall_s": r["wall_s"], "batch_wall_s": doc["wall_s"],
            "fixed_s": round(fixed, 2), "timings": doc.get("executor_timings_s", {}),
            "steady_items_per_s": round(doc["items"] / max(1e-6, doc["wall_s"] - fixed), 3),
            "cpu_s": r["cpu_s"], "load": r["load_before"],
            "first_item_s": round(statistics.median(firsts), 3) if firsts else None,
            "item_s": round(statistics.median(rest), 3) if rest else None,
            "command": f"rtseg batch DIR --job {job}.toml --out OUT --executor {executor} --workers {workers}"
                       + (" --stills" if stills else "")}


def rates(r: dict[str, Any]) -> dict[str, Any]:
    r["items_per_s"] = round(r["items"] / r["wall_s"], 3)
    r["fps"] = round(r["frames"] / r["wall_s"], 2)
    r["cpu_ms_per_frame"] = round(1000 * r["cpu_s"] / r["frames"], 2) if r["frames"] else None
    r["wall_s"] = round(r["wall_s"], 2)
    r["cpu_s"] = round(r["cpu_s"], 2)
    return r


def markdown(doc: dict[str, Any]) -> str:
    lines = [f"# Batch throughput ({doc['date']}, {doc['machine']['cpus']} CPUs)", "",
             f"Command: `{doc['command']}`. Same run for every row; the loop runs one `rtseg` process per item "
             "on a subset (rates), the executors run every item. CPU: the whole machine's busy time over each "
             "run (Ray's workers included); load: 1-min load average before each run. Start-up + shutdown: starting "
             "the worker processes (and, for Ray, starting and stopping a local Ray) until every worker is ready; "
             "'after start-up' divides by the wall time without it (what a running cluster sees).", ""]
    for workload, rows in doc["workloads"].items():
        lines += [f"## {workload}", "", "| way | job | items | frames | wall s | items/s | fps | CPU ms/frame | "
                  "vs loop | start-up + shutdown s | items/s after start-up | first item s | item s | load |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for job, ways in rows.items():
            for way, r in ways.items():
                lines.append(f"| {way} | {job} | {r['items']} | {r['frames']} | {r['wall_s']} | {r['items_per_s']} | "
                             f"{r['fps']} | {r['cpu_ms_per_frame']} | {r.get('vs_loop', 1.0)}× | "
                             f"{r.get('fixed_s', '')} | {r.get('steady_items_per_s', '')} | "
                             f"{r.get('first_item_s') or ''} | {r.get('item_s') or ''} | {r['load']} |")
        lines.append("")
    lines += ["## Targets", ""] + [f"- {k}: {'pass' if v['pass'] else 'FAIL'} ({v['value']})"
                                   for k, v in doc["targets"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--loop-clips", type=int, default=10, help="items the per-process loop runs (a rate)")
    ap.add_argument("--loop-images", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--jobs", default="blur,cutout")
    ap.add_argument("--ways", default="loop,local,ray")
    ap.add_argument("--quick", action="store_true", help="8 clips, 30 images, loop 3/5")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args(argv)
    if args.quick:
        args.clips, args.images, args.loop_clips, args.loop_images = 8, 30, 3, 5
    jobs, ways = args.jobs.split(","), args.ways.split(",")
    with tempfile.TemporaryDirectory(prefix="rtseg-batch-bench-") as tmp:
        work = Path(tmp)
        for job in jobs:
            (work / f"{job}.toml").write_text(f'command = "{job}"\n')
        inputs = {"clips": (work / "clips", make_clips(work / "clips", args.clips), False, args.loop_clips),
                  "images": (work / "images", make_images(work / "images", args.images), True, args.loop_images)}
        doc: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine_info(),
                               "command": "python benchmarks/batch.py" + (" --quick" if args.quick else ""),
                               "workers": args.workers, "workloads": {}}
        for workload, (folder, items, stills, loop_n) in inputs.items():
            doc["workloads"][workload] = {}
            for job in jobs:
                results: dict[str, Any] = {}
                for way in ways:
                    out = work / f"out-{workload}-{job}-{way}"
                    print(f"{workload} {job} {way} ...", file=sys.stderr, flush=True)
                    if way == "loop":
                        results[way] = rates(run_loop(job, items[:loop_n], out, work))
                    else:
                        results[way] = rates(run_batch(job, way, folder, out, work, args.workers, stills))
                    shutil.rmtree(out, ignore_errors=True)
                    print(f"  {results[way]['items_per_s']} items/s, {results[way]['fps']} fps, "
                          f"{results[way]['cpu_ms_per_frame']} CPU ms/frame", file=sys.stderr, flush=True)
                if "loop" in results:
                    for r in results.values():
                        r["vs_loop"] = round(r["items_per_s"] / results["loop"]["items_per_s"], 2)
                doc["workloads"][workload][job] = results
        targets: dict[str, Any] = {}
        for job in jobs:
            ws = doc["workloads"]
            if "loop" in ways and "local" in ways:
                v = ws["images"][job]["local"]["vs_loop"]
                targets[f"images {job}: local ≥ 5× loop"] = {"value": f"{v}×", "pass": v >= 5}
                v = ws["clips"][job]["local"]["vs_loop"]
                targets[f"clips {job}: local ≥ 1.5× loop"] = {"value": f"{v}×", "pass": v >= 1.5}
            if "ray" in ways and "local" in ways:
                for w in ("clips", "images"):
                    ray, local = ws[w][job]["ray"], ws[w][job]["local"]
                    ratio = round(ray["items_per_s"] / local["items_per_s"], 3)
                    targets[f"{w} {job}: Ray ≥ 0.8× local"] = {"value": f"{ratio}×", "pass": ratio >= 0.8}
                    steady = round(ray["steady_items_per_s"] / local["steady_items_per_s"], 3)
                    targets[f"{w} {job}: Ray ≥ 0.8× local after start-up (a running cluster)"] = {
                        "value": f"{steady}×", "pass": steady >= 0.8}
        doc["targets"] = targets
    write_outputs(doc, markdown(doc), args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
