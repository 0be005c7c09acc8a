"""EdgeTAM's own PyTorch predictor, timed per frame: the reference side of ``benchmarks/edgetam_speed.py``.

Runs in the EdgeTAM environment (``.ci/install-edgetam.sh``, whose ``sam2`` is EdgeTAM's code) with
``tests/edgetam_harness`` on ``PYTHONPATH`` (torchvision's operator schemas, timm without ImageNet
weights); ``edgetam_speed.py`` starts it. Prints one JSON object: per-frame wall and CPU seconds of
``propagate_in_video`` after one click on frame 0 (``init_state``, which decodes and resizes every
frame, is not timed).

    python benchmarks/edgetam_torch.py MODEL_DIR FRAMES_DIR --threads 2 --point 210,350
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("frames_dir", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--point", default="210,350")
    args = parser.parse_args()

    import torch
    from sam2.build_sam import build_sam2_video_predictor

    torch.set_num_threads(args.threads)
    x, y = (float(v) for v in args.point.split(","))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = build_sam2_video_predictor("configs/edgetam.yaml", str(args.model_dir / "checkpoint.pt"), device="cpu",
                                          hydra_overrides_extra=["++model.fill_hole_area=0"])
        wall: list[float] = []
        cpu: list[float] = []
        with torch.inference_mode():
            state = pred.init_state(str(args.frames_dir))
            t0, c0 = time.perf_counter(), time.process_time()
            pred.add_new_points_or_box(state, 0, 1, points=[[x, y]], labels=[1])
            for _frame, _ids, _masks in pred.propagate_in_video(state):
                t1, c1 = time.perf_counter(), time.process_time()
                wall.append(t1 - t0)
                cpu.append(c1 - c0)
                t0, c0 = time.perf_counter(), time.process_time()
    print(json.dumps({"frame_s": wall, "cpu_s": cpu, "torch": torch.__version__, "threads": args.threads}))


if __name__ == "__main__":
    main()
