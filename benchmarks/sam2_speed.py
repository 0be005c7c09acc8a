"""SAM 2 tracking speed: rtseg's ONNX Runtime tracker vs PyTorch's ``SAM2VideoPredictor``.

Same machine, same run, same weights (seeded random, exported once), same frames, same prompt
(one click on frame 0), both on CPU with the same thread count. Frame 0 (a conditioning frame,
plus one-off session warm-up) is reported separately; "steady" is the mean over frames whose memory
bank is full (frame >= num_maskmem). Writes JSON.

    python benchmarks/sam2_speed.py --frames 20 --image-size 512 --json sam2_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sam2-bedroom"


def bench_onnx(model_dir: Path, frames: list, threads: int) -> dict:
    from rtseg.segment.sam2.tracker import Sam2Tracker

    times, per_graph = [], []
    with Sam2Tracker(model_dir, intra_op_threads=threads, num_frames=len(frames)) as tracker:
        tracker.add_points(0, 1, [[210, 350]], [1])
        for i, rgb in enumerate(frames):
            tracker.timings.clear()
            t0 = time.perf_counter()
            tracker.track(rgb, i)
            times.append(time.perf_counter() - t0)
            per_graph.append(dict(tracker.timings))
        providers = tracker.provider_choice.used if tracker.provider_choice else []
    return {"frame_s": times, "graph_s": per_graph, "providers": providers}


def bench_torch(model_dir: Path, video_dir: Path, image_size: int, threads: int) -> dict:
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = build_sam2_video_predictor(
            "configs/sam2.1/sam2.1_hiera_t.yaml",
            str(model_dir / "checkpoint.pt"),
            device="cpu",
            hydra_overrides_extra=[f"++model.image_size={image_size}"],
        )
        times = []
        with torch.inference_mode():
            state = pred.init_state(str(video_dir))  # decodes all frames and encodes frame 0 (not timed)
            t0 = time.perf_counter()
            pred.add_new_points_or_box(state, 0, 1, points=[[210, 350]], labels=[1])
            for _ in pred.propagate_in_video(state):
                t1 = time.perf_counter()
                times.append(t1 - t0)
                t0 = t1
    return {"frame_s": times}


def summary(times: list[float], steady_from: int) -> dict:
    steady = times[steady_from:]
    return {
        "first_s": times[0],
        "mean_s": statistics.mean(times[1:]),
        "steady_mean_s": statistics.mean(steady),
        "steady_median_s": statistics.median(steady),
        "frames": len(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--model", type=Path, help="existing export (default: export tiny with --random-weights 0)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from rtseg.segment.sam2.tracker import load_frame

    with tempfile.TemporaryDirectory() as tmp:
        video_dir = Path(tmp) / "frames"
        video_dir.mkdir()
        for i in range(args.frames):
            (video_dir / f"{i:05d}.jpg").symlink_to(DATA / f"{i:05d}.jpg")
        model_dir = args.model
        if model_dir is None:
            from rtseg.segment.sam2.export import export_sam2

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model_dir = export_sam2(Path(tmp) / "model", "tiny", args.image_size, random_seed=0)
        frames = [load_frame(video_dir / f"{i:05d}.jpg") for i in range(args.frames)]
        steady_from = json.loads((model_dir / "manifest.json").read_text())["settings"]["num_maskmem"]

        # alternate the order so neither side always runs on a cooler machine
        onnx = bench_onnx(model_dir, frames, args.threads)
        ref = bench_torch(model_dir, video_dir, args.image_size, args.threads)
        onnx2 = bench_onnx(model_dir, frames, args.threads)
        ref2 = bench_torch(model_dir, video_dir, args.image_size, args.threads)

    best_onnx = min(onnx, onnx2, key=lambda r: statistics.mean(r["frame_s"][steady_from:]))
    best_ref = min(ref, ref2, key=lambda r: statistics.mean(r["frame_s"][steady_from:]))
    graphs = {
        name: statistics.mean(g.get(name, 0.0) for g in best_onnx["graph_s"][steady_from:])
        for name in ("image_encoder", "memory_attention", "mask_decoder", "memory_encoder")
    }
    s_onnx, s_ref = summary(best_onnx["frame_s"], steady_from), summary(best_ref["frame_s"], steady_from)
    result = {
        "workload": "sam2 tiny, one object, CPU",
        "image_size": args.image_size,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "rtseg_onnx": s_onnx,
        "rtseg_onnx_graph_steady_s": graphs,
        "rtseg_providers": best_onnx["providers"],
        "pytorch_sam2": s_ref,
        "speedup_steady": s_ref["steady_mean_s"] / s_onnx["steady_mean_s"],
        "runs": {"onnx": [onnx["frame_s"], onnx2["frame_s"]], "pytorch": [ref["frame_s"], ref2["frame_s"]]},
    }
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
