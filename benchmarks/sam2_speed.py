"""SAM 2 tracking speed: rtseg's ONNX Runtime tracker vs PyTorch's ``SAM2VideoPredictor``.

Same machine, same run, same weights (seeded random, exported once), same frames, same prompt
(one click on frame 0), both on CPU with the same thread count. Frame 0 (a conditioning frame,
plus one-off session warm-up) is not timed; "steady" covers frames whose memory bank is full
(frame >= num_maskmem). The two run in lockstep (alternating which goes first on each frame) so a
busy machine slows both alike; the speedup is the median of per-frame ratios. Writes JSON with
both totals and each side's time in the same four parts (rtseg: its ONNX graphs; PyTorch: timed
with hooks on ``forward_image``, ``memory_attention``, ``sam_mask_decoder``, ``memory_encoder``).

Threads: PyTorch runs with ``torch.set_num_threads(--threads)`` (default 2 = this machine's cores,
also PyTorch's own default here) and otherwise its defaults (OpenMP waiting policy included);
rtseg's sessions get the same intra-op thread count and the tracker's default of non-spinning
threads. Under heavy machine load PyTorch's OpenMP threads degrade much more than ONNX Runtime's
(measured here: 4-5x slower per frame at load average ~5, ONNX Runtime ~2x), so always read the
speedup together with the recorded load average.

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
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "sam2-bedroom"


def bench_lockstep(model_dir: Path, video_dir: Path, frames: list, image_size: int, threads: int) -> dict:
    """Run both trackers frame by frame, alternating which goes first, so both see the same load.

    PyTorch's frame decoding and resizing happen in ``init_state`` (not timed); rtseg's per-frame
    time includes its own preprocessing, so the comparison slightly favours PyTorch.
    """
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    from rtseg.segment.sam2.tracker import Sam2Tracker

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = build_sam2_video_predictor(
            "configs/sam2.1/sam2.1_hiera_t.yaml",
            str(model_dir / "checkpoint.pt"),
            device="cpu",
            hydra_overrides_extra=[f"++model.image_size={image_size}"],
        )
    onnx_s: list[float] = []
    torch_s: list[float] = []
    graphs: list[dict[str, float]] = []
    torch_graphs: list[dict[str, float]] = []
    torch_parts = _time_torch_parts(pred)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        state = pred.init_state(str(video_dir))  # decodes every frame and encodes frame 0 (not timed)
        with Sam2Tracker(model_dir, intra_op_threads=threads, num_frames=len(frames)) as tracker:
            tracker.add_points(0, 1, [[210, 350]], [1])
            tracker.track(frames[0], 0)  # warm-up: session first-run costs; frame 0 encoded like init_state
            t0 = time.perf_counter()
            pred.add_new_points_or_box(state, 0, 1, points=[[210, 350]], labels=[1])
            gen = pred.propagate_in_video(state)
            next(gen)  # frame 0: the prompt output (already computed above)
            providers = tracker.provider_choice.used if tracker.provider_choice else []

            def step_torch() -> None:
                torch_parts.clear()
                t = time.perf_counter()
                next(gen)
                torch_s.append(time.perf_counter() - t)
                torch_graphs.append(dict(torch_parts))

            def step_onnx(i: int) -> None:
                tracker.timings.clear()
                t = time.perf_counter()
                tracker.track(frames[i], i)
                onnx_s.append(time.perf_counter() - t)
                graphs.append(dict(tracker.timings))

            for i in range(1, len(frames)):
                if i % 2:
                    step_onnx(i)
                    step_torch()
                else:
                    step_torch()
                    step_onnx(i)
            del t0
    return {"onnx_s": onnx_s, "torch_s": torch_s, "graph_s": graphs, "torch_graph_s": torch_graphs,
            "providers": providers}


def _time_torch_parts(pred: Any) -> dict[str, float]:
    """Accumulate the PyTorch predictor's time in the same four parts as rtseg's graphs.

    ``forward_image`` is the image encoder (backbone + FPN neck, as in the ONNX graph); module hooks
    time the memory attention, the SAM heads (prompt encoder + mask decoder) and the memory encoder.
    """
    parts: dict[str, float] = {}
    starts: dict[str, float] = {}
    forward_image = pred.forward_image

    def timed_forward_image(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = forward_image(*args, **kwargs)
        parts["image_encoder"] = parts.get("image_encoder", 0.0) + time.perf_counter() - t
        return out

    pred.forward_image = timed_forward_image
    for name, module in (
        ("memory_attention", pred.memory_attention),
        ("mask_decoder", pred.sam_mask_decoder),
        ("memory_encoder", pred.memory_encoder),
    ):
        def pre(_m: Any, _a: Any, name: str = name) -> None:
            starts[name] = time.perf_counter()

        def post(_m: Any, _a: Any, _o: Any, name: str = name) -> None:
            parts[name] = parts.get(name, 0.0) + time.perf_counter() - starts[name]

        module.register_forward_pre_hook(pre)
        module.register_forward_hook(post)
    return parts


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
    ap.add_argument("--frames", type=int, default=20, help="frames of the SAM 2 notebook video (>= 2)")
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--model", type=Path, help="existing export (default: export tiny with --random-weights 0)")
    ap.add_argument("--json", type=Path, help="write the result here (e.g. outside benchmarks/results/ for a check)")
    args = ap.parse_args()
    if args.frames < 2:
        ap.error("--frames must be at least 2 (frame 0 is the untimed prompt frame)")
    if args.frames > len(list(DATA.glob("*.jpg"))):
        ap.error(f"--frames: {DATA} has only {len(list(DATA.glob('*.jpg')))} frames")

    from rtseg.segment.sam2.ops import load_frame

    with tempfile.TemporaryDirectory() as tmp:
        video_dir = Path(tmp) / "frames"
        video_dir.mkdir()
        for i in range(args.frames):
            (video_dir / f"{i:05d}.jpg").symlink_to(DATA / f"{i:05d}.jpg")
        model_dir = args.model
        if model_dir is None:
            from rtseg.tools.sam2.export import export_sam2

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model_dir = export_sam2(Path(tmp) / "model", "tiny", args.image_size, random_seed=0)
        frames = [load_frame(video_dir / f"{i:05d}.jpg") for i in range(args.frames)]
        num_maskmem = json.loads((model_dir / "manifest.json").read_text())["settings"]["num_maskmem"]
        run = bench_lockstep(model_dir, video_dir, frames, args.image_size, args.threads)

    # frames 1.. were timed; "steady" = frames whose memory bank is full (on a clip too short for
    # that, the last timed frame, so a quick check run still reports)
    steady_from = min(num_maskmem - 1, len(run["onnx_s"]) - 1)
    steady = slice(steady_from, None)  # index 0 is frame 1
    ratios = [t / o for t, o in zip(run["torch_s"], run["onnx_s"], strict=True)]
    graphs = {
        name: statistics.median(g.get(name, 0.0) for g in run["graph_s"][steady])
        for name in ("image_encoder", "memory_attention", "mask_decoder", "memory_encoder")
    }
    torch_graphs = {
        name: statistics.median(g.get(name, 0.0) for g in run["torch_graph_s"][steady])
        for name in ("image_encoder", "memory_attention", "mask_decoder", "memory_encoder")
    }
    result = {
        "workload": "sam2 tiny, one object, CPU, frames 1..N-1 after a click on frame 0",
        "image_size": args.image_size,
        "threads": args.threads,
        "frames": args.frames,
        "steady_from_frame": steady_from + 1,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "rtseg_onnx_frame_s": {
            "median": statistics.median(run["onnx_s"]),
            "steady_median": statistics.median(run["onnx_s"][steady]),
        },
        "pytorch_frame_s": {
            "median": statistics.median(run["torch_s"]),
            "steady_median": statistics.median(run["torch_s"][steady]),
        },
        "speedup_median_of_paired_ratios": statistics.median(ratios),
        "speedup_steady_median": statistics.median(ratios[steady]),
        "rtseg_onnx_graph_steady_median_s": graphs,
        "pytorch_part_steady_median_s": torch_graphs,
        "rtseg_providers": run["providers"],
        "runs": {"onnx_s": run["onnx_s"], "torch_s": run["torch_s"]},
    }
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
