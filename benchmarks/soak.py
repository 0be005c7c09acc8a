"""Soak: a long live replay and a long file job, sampling memory and throughput as they run.

    python benchmarks/soak.py --duration 600 --file-frames 10000 \
        --json benchmarks/results/soak.json --markdown benchmarks/results/soak.md

Live: ``rtseg webcam``'s graph on a clip replayed on its clock (looped), blur, null output, for
``--duration`` seconds. File: ``rtseg blur`` on a clip of ``--file-frames`` frames (the bundled
sample, looped into a temporary file once). Every ``--every`` seconds the process's RSS, the frames
out and the drops so far are sampled. Pass: RSS growth after warm-up (the first minute, or the first
fifth of a short run) under 50 MB, and fps and drops of the first minute equal to the last's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_outputs

from rtseg.graph import Pipeline
from rtseg.graph.memory import limit_malloc_arenas
from rtseg.jobs import JobPipeline, JobSpec, build
from rtseg.sinks import VideoFileSink
from rtseg.sources import open_source
from rtseg.sources.synthetic import SyntheticSource

GROWTH_LIMIT_MB = 50.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def sample_while(pipeline: JobPipeline, every: float) -> tuple[list[dict[str, float]], dict[str, Any]]:
    samples: list[dict[str, float]] = []
    done = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["stats"] = pipeline.run()
        except BaseException as exc:  # reported below
            result["error"] = exc
        finally:
            done.set()

    t0 = time.perf_counter()
    runner = threading.Thread(target=run, name="soak-run")
    runner.start()
    while not done.wait(every):
        drops = sum(q.dropped for q in pipeline.queues)
        samples.append({"t_s": round(time.perf_counter() - t0, 1), "rss_mb": round(rss_mb(), 1),
                        "frames_out": pipeline.stats.frames_out, "dropped": drops})
    runner.join()
    if "error" in result:
        raise result["error"]
    return samples, result


def window(samples: list[dict[str, float]], t0: float, t1: float) -> dict[str, float]:
    inside = [s for s in samples if t0 <= s["t_s"] <= t1]
    if len(inside) < 2:
        return {"fps": 0.0, "dropped": 0.0}
    a, b = inside[0], inside[-1]
    span = b["t_s"] - a["t_s"]
    return {"fps": round((b["frames_out"] - a["frames_out"]) / span, 2) if span else 0.0,
            "dropped": b["dropped"] - a["dropped"]}


def judge(samples: list[dict[str, float]]) -> dict[str, Any]:
    end = samples[-1]["t_s"] if samples else 0.0
    warm = min(60.0, end / 5)
    after = [s["rss_mb"] for s in samples if s["t_s"] >= warm]
    growth = round(max(after) - after[0], 1) if after else 0.0
    minute = min(60.0, end / 3)
    first, last = window(samples, warm, warm + minute), window(samples, end - minute, end)
    return {"warmup_s": warm, "rss_growth_mb": growth, "first": first, "last": last,
            "rss_ok": growth < GROWTH_LIMIT_MB}


def long_clip(frames: int, folder: Path) -> Path:
    """The sample clip looped to ``frames`` frames (written once with PyAV)."""
    path = folder / f"sample-x{frames}.mp4"
    if path.exists():
        return path
    source = open_source("sample")
    info = source.open()
    images = [f.image for f in iter(source.read, None)]
    source.close()
    sink = VideoFileSink(path, fps=Fraction(info.fps))

    class Loop(SyntheticSource):
        def render(self, i: int) -> Any:
            return images[i % len(images)]

    Pipeline(Loop(info.width, info.height, frames=frames, fps=float(info.fps)), [], sink).run()
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=600.0, help="live replay seconds")
    p.add_argument("--file-frames", type=int, default=10_000, help="frames of the file job")
    p.add_argument("--clip", default="sample", help="clip to replay live (default: the bundled sample)")
    p.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--json", type=Path)
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    doc_arenas = limit_malloc_arenas()  # as the rtseg command does
    doc: dict[str, Any] = {"machine": machine_info(), "command": " ".join(["python benchmarks/soak.py", *sys.argv[1:]]),
                           "malloc_arenas_limited": doc_arenas}
    live = build(JobSpec.from_dict({
        "command": "webcam", "source": {"path": args.clip, "realtime": True, "loop": True},
        "outputs": [{"kind": "null"}], "run": {"duration": args.duration, "status": False}}))
    samples, _ = sample_while(live, args.every)
    doc["live"] = {"duration_s": args.duration, "samples": samples, **judge(samples)}
    with tempfile.TemporaryDirectory() as tmp:
        clip = long_clip(args.file_frames, Path(tmp))
        job = build(JobSpec.from_dict({"command": "blur", "source": {"path": str(clip)},
                                       "outputs": [{"kind": "video", "path": str(Path(tmp) / "out.mp4")}],
                                       "run": {"progress": False}}))
        samples, result = sample_while(job, args.every)
        doc["file"] = {"frames": result["stats"].frames_out, "samples": samples, **judge(samples)}
    rows = ["| run | length | RSS growth after warm-up | fps first / last minute | drops first / last minute |",
            "|---|---|---:|---|---|"]
    for name, length in (("live replay", f"{args.duration:g} s"), ("file blur", f"{doc['file']['frames']} frames")):
        r = doc["live" if name.startswith("live") else "file"]
        rows.append(f"| {name} | {length} | {r['rss_growth_mb']} MB | {r['first']['fps']} / {r['last']['fps']} | "
                    f"{r['first']['dropped']:g} / {r['last']['dropped']:g} |")
    write_outputs(doc, "\n".join(rows) + "\n", args.json, args.markdown)
    return 0 if doc["live"]["rss_ok"] and doc["file"]["rss_ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
