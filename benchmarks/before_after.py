"""This checkout against another commit, in the same run: the same masks, the same CLI output, the same speed.

For a change that should not change behaviour (a refactor). Each side runs in its own processes with
the other commit from a temporary ``git worktree`` on ``PYTHONPATH``:

- **masks**: every alpha the quality benchmark's variants give on DAVIS sequences (``rtseg.bench.quality``,
  RVM left out) and every mask the carry benchmark's flow carrier gives (files and live), hashed per
  variant; equal hashes mean the same masks byte for byte;
- **CLI**: each command's ``--help``, and file jobs (blur with masks, cutout, overlay, segment, a job
  preset, a batch, and SAM 2 tracking with ``--model-dir``) run on real media: their terminal output
  (timings masked) and every file they write, hashed (times in JSON masked). An H.264 file is not always
  the same bytes from one run to the next on the same code (x264's threads): a video that differs while
  the masks and PNGs beside it are the same is worth running twice on one side before calling it a change;
- **speed**: the quality benchmark's mask-path cost on 720p frames, ``rtseg bench effects`` and, with
  ``--model-dir``, SAM 2 tracking per frame; sides alternate (``--rounds`` each) so machine load hits
  both alike, and the table gives each figure's ratio (this checkout / base) with wall and CPU ms.

    python benchmarks/before_after.py --base 3a02998 --model-dir /tmp/sam2-tiny-512 \\
        --out benchmarks/results/before_after
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
DATA = ROOT.parent / "shared" / "data"
DAVIS = [DATA / "davis" / "lucia", DATA / "davis" / "dance-twirl"]
CLIP = DATA / "gallery" / "05_default_juggle.mp4"
BEDROOM = DATA / "sam2-bedroom"
TRACK_FRAMES = 16

MASKS = r"""
import hashlib, json, sys, warnings
from pathlib import Path
import numpy as np
warnings.simplefilter("ignore")
from rtseg.bench import carry, quality
seqs = [Path(p) for p in sys.argv[1:]]
out = {}
masked = getattr(quality, "_masked_frames")
for variant in quality.variants():
    h = hashlib.sha256()
    for seq in seqs:
        for _, alpha in masked(seq, variant):
            h.update(np.ascontiguousarray(alpha).tobytes())
    out["quality: " + variant.name] = h.hexdigest()
carrier = carry.Carrier
current = carrier.current
digest = hashlib.sha256()
def hashed(self):
    mask = current(self)
    digest.update(np.ascontiguousarray(mask).tobytes())
    return mask
carrier.current = hashed
for live in (False, True):
    digest = hashlib.sha256()
    res = carry.evaluate(seqs, live=live)
    for per in res["sequences"].values():  # the accuracy figures too (the timings left out)
        for summary in per.values():
            digest.update(json.dumps({k: v for k, v in sorted(summary.items()) if not k.endswith("_ms")}).encode())
    out["carry: " + ("live" if live else "files")] = digest.hexdigest()
print(json.dumps(out))
"""

SPEED = r"""
import inspect, json, sys, time, warnings
from pathlib import Path
warnings.simplefilter("ignore")
from rtseg.bench import quality
clip, model_dir, bedroom = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
out = {}
cost = quality.time_cost(clip, frames=60, repeat=2)
out["mask path, default (wall ms/frame)"] = cost["default_ms"]
out["mask path, default (CPU ms/frame)"] = cost["default_cpu_ms"]
out["mask path, raw (wall ms/frame)"] = cost["raw_ms"]
out["mask path, raw (CPU ms/frame)"] = cost["raw_cpu_ms"]
if model_dir:
    import numpy as np
    from PIL import Image
    from rtseg.segment.sam2.tracker import Sam2Tracker
    frames = [np.asarray(Image.open(bedroom / f"{i:05d}.jpg").convert("RGB")) for i in range(8)]
    choice = "provider" if "provider" in inspect.signature(Sam2Tracker).parameters else "device"
    with Sam2Tracker(model_dir, **{choice: "cpu"}, intra_op_threads=2) as t:
        t.add_points(0, 1, [(210.0, 350.0)], [1])
        wall, cpu = [], []
        for i, rgb in enumerate(frames):
            w0, c0 = time.perf_counter(), time.process_time()
            t.track(rgb, i)
            wall.append(time.perf_counter() - w0); cpu.append(time.process_time() - c0)
    out["SAM 2 tracking, frames 2-7 (wall ms/frame)"] = round(sum(wall[2:]) / 6 * 1000, 1)
    out["SAM 2 tracking, frames 2-7 (CPU ms/frame)"] = round(sum(cpu[2:]) / 6 * 1000, 1)
print(json.dumps(out))
"""


def run_python(side: Path, code: str, *args: str, timeout: float = 3600) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(side)}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=side)
    if proc.returncode != 0:
        raise SystemExit(f"side {side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def masked_timings(text: str) -> str:
    """Terminal output with what changes from run to run (times, rates, temporary paths) masked."""
    import re

    text = re.sub(r"\d+(\.\d+)? ?(s|ms|fps|MB|MiB|%)\b", "#\\2", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", "TIME", text)
    text = re.sub(r"/tmp/[^\s'\"]+", "TMP", text)
    return re.sub(r"\.rtseg-partial-\d+", ".rtseg-partial-PID", text)


def tree_hashes(folder: Path) -> dict[str, str]:
    import hashlib

    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        given = rel.startswith("bedroom/") or (rel.startswith("configs/") and path.suffix == ".toml")  # inputs
        if path.is_file() and not given and path.name != ".rtseg-output.json":  # the marker holds times
            data = path.read_bytes()
            if path.suffix in (".json", ".jsonl"):
                data = masked_timings(data.decode()).encode()
            digest = hashlib.sha256(data).hexdigest()[:16]
            if path.parent.name == ".rtseg-batch":  # a record is named after its output's absolute path
                rel = f"{path.parent.relative_to(folder)}/record {digest}"
            out[rel] = digest
    return out


def cli_commands(model_dir: Path | None) -> list[tuple[str, list[str]]]:
    lucia = DATA / "davis" / "lucia" / "JPEGImages"
    jobs: list[tuple[str, list[str]]] = [
        ("help", ["--help"]),
        *((f"{c} --help", [c, "--help"]) for c in ("blur", "replace", "cutout", "overlay", "segment", "webcam",
                                                     "track", "batch", "run", "bench", "studio", "export-sam2",
                                                     "import-rvm", "devices")),
        ("blur", ["blur", str(CLIP), "-o", "blur.mp4", "--masks", "blur-masks", "--no-progress"]),
        ("cutout", ["cutout", str(lucia), "-o", "cut", "--no-progress"]),
        ("overlay", ["overlay", str(lucia), "-o", "over.mp4", "--no-progress"]),
        ("segment", ["segment", str(DATA / "gallery" / "04_coffee.mp4"), "--masks", "seg", "--no-progress"]),
        ("run preset", ["run", "configs/segment.toml", "--no-progress"]),
        ("batch", ["batch", str(DATA / "gallery" / "01_dog.mp4"), str(DATA / "gallery" / "03_blocks.mp4"),
                   "--job", "configs/blur.toml", "--out", "batch-out", "--workers", "1", "--no-progress"]),
        ("bad input", ["blur", "missing.mp4", "-o", "x.mp4"]),
    ]
    if model_dir is not None:
        jobs.append(("track", ["track", "bedroom", "--model-dir", str(model_dir), "--point", "210,350",
                               "--masks", "track-masks", "--rle", "track.json", "--no-progress", "--threads", "2"]))
    return jobs


def run_cli(side: Path, model_dir: Path | None, only: set[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    env = {**os.environ, "PYTHONPATH": str(side), "COLUMNS": "120"}
    for name, args in cli_commands(model_dir):
        if only is not None and name not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(side / "configs", Path(tmp) / "configs")
            (Path(tmp) / "bedroom").mkdir()
            for i in range(TRACK_FRAMES):  # the first frames of the SAM 2 notebook's video, linked
                (Path(tmp) / "bedroom" / f"{i:05d}.jpg").symlink_to(BEDROOM / f"{i:05d}.jpg")
            proc = subprocess.run([sys.executable, "-m", "rtseg", *args], capture_output=True, text=True, env=env,
                                  cwd=tmp, timeout=1800)
            out[name] = {"code": proc.returncode, "stdout": masked_timings(proc.stdout),
                         "stderr": masked_timings(proc.stderr), "files": tree_hashes(Path(tmp))}
    return out


def files_verdict(row: dict[str, Any]) -> str:
    """same; different only where the base differs from itself when run again (named); or different."""
    if row["same_files"]:
        return "same"
    d = row["diff"]
    differ = {f for f in set(d["base"]["files"]) | set(d["this"]["files"])
              if d["base"]["files"].get(f) != d["this"]["files"].get(f)}
    if differ and differ <= set(row["base_varies"]):
        return f"{', '.join(sorted(differ))}: not the same bytes on a second run of the base either"
    return "**different**"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare with (e.g. the one before a refactor)")
    ap.add_argument("--model-dir", type=Path, help="a SAM 2 export, for the tracking CLI job and its speed")
    ap.add_argument("--rounds", type=int, default=3, help="speed runs per side, alternating")
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        base_dir = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_dir), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            sides = {"base": base_dir, "this": ROOT}
            masks = {name: run_python(side, MASKS, *map(str, DAVIS)) for name, side in sides.items()}
            cli = {name: run_cli(side, args.model_dir) for name, side in sides.items()}
            differing = {k for k in cli["base"] if cli["base"][k] != cli["this"].get(k)}
            again = run_cli(base_dir, args.model_dir, differing)  # does the base differ from itself?
            speed: dict[str, dict[str, list[float]]] = {"base": {}, "this": {}}
            loads = []
            for _ in range(args.rounds):
                for name, side in sides.items():
                    loads.append(os.getloadavg()[0])
                    got = run_python(side, SPEED, str(CLIP), str(args.model_dir or ""), str(BEDROOM))
                    for key, value in got.items():
                        speed[name].setdefault(key, []).append(value)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_dir)], cwd=ROOT, capture_output=True)
    mask_rows = [{"masks": k, "same": masks["base"][k] == masks["this"].get(k)} for k in masks["base"]]
    cli_rows = []
    for k in cli["base"]:
        a, b = cli["base"][k], cli["this"].get(k, {})
        unstable = sorted(f for f in a["files"] if k in again and again[k]["files"].get(f) != a["files"][f])
        cli_rows.append({"command": k, "same_output": (a["code"], a["stdout"], a["stderr"]) ==
                         (b.get("code"), b.get("stdout"), b.get("stderr")),
                         "same_files": a["files"] == b.get("files"), "files": len(a["files"]),
                         "base_varies": unstable,
                         "diff": None if a == b else {"base": a, "this": b, "base_again": again.get(k)}})
    speed_rows = []
    for key in speed["base"]:
        before, after = statistics.median(speed["base"][key]), statistics.median(speed["this"][key])
        speed_rows.append({"figure": key, "base": before, "this": after, "ratio": round(after / before, 3),
                           "runs": len(speed["base"][key])})
    doc = {"base": args.base, "this": head + (" (uncommitted changes)" if dirty else ""), "machine": machine_info(),
           "load_1min": [round(x, 2) for x in loads], "when": time.strftime("%Y-%m-%d %H:%M"),
           "masks": mask_rows, "cli": cli_rows, "speed": speed_rows, "raw_speed": speed}
    lines = [f"# {head} against {args.base}", "",
             f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, 1-min load during the speed runs "
             f"{min(loads):.2f}–{max(loads):.2f}. Command: `python benchmarks/before_after.py --base {args.base}"
             + (f" --model-dir {args.model_dir}" if args.model_dir else "") + f" --rounds {args.rounds} --out OUT`.",
             "", "| masks | byte for byte |", "| --- | --- |",
             *(f"| {r['masks']} | {'same' if r['same'] else '**different**'} |" for r in mask_rows),
             "", "| CLI | output | files written |", "| --- | --- | --- |",
             *(f"| `rtseg {r['command']}` | {'same' if r['same_output'] else '**different**'} | "
               f"{r['files']}, {files_verdict(r)} |" for r in cli_rows),
             "", f"| speed (median of {args.rounds}, alternating) | base | this | this / base |",
             "| --- | ---: | ---: | ---: |",
             *(f"| {r['figure']} | {r['base']:.1f} | {r['this']:.1f} | {r['ratio']:.2f} |" for r in speed_rows), ""]
    write_outputs(doc, "\n".join(lines), args.out.with_suffix(".json"), args.out.with_suffix(".md"))
    same = all(r["same"] for r in mask_rows) and all(r["same_output"] and files_verdict(r) != "**different**"
                                                     for r in cli_rows)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
