"""The change gate: the model runs on frames where some region changed, the mask is carried otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtseg.jobs import JobSpec, build
from rtseg.metrics import region_iou
from rtseg.segment.gate import ChangeGate, GateOptions
from tests.conftest import DATA, require

STILL = DATA / "webcam" / "thoughtful-640x360.mp4"  # a man sitting still outdoors, 29.97 fps


def _textured(h: int = 360, w: int = 640) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(60, 200, (h, w, 3), dtype=np.uint8)


def test_a_still_frame_is_skipped_and_a_small_moving_region_is_not() -> None:
    gate = ChangeGate(GateOptions(threshold=4.0, max_skip=100))
    frame = _textured()
    assert gate.check(frame)  # the first frame always goes to the model
    noisy = np.clip(frame.astype(np.int16) + np.random.default_rng(1).integers(-3, 4, frame.shape), 0, 255)
    assert not gate.check(noisy.astype(np.uint8))  # sensor noise is not a change
    hand = frame.copy()
    hand[100:140, 300:340] += 50  # a 40x40 patch gets brighter: 0.7 % of the frame
    mse = float(np.mean((hand.astype(np.float32) - frame) ** 2))
    assert 10 * np.log10(255 ** 2 / mse) > 35  # a whole-frame PSNR test would call this frame unchanged
    assert gate.check(hand)
    assert (gate.runs, gate.skipped) == (2, 1)


def test_the_model_runs_at_least_every_max_skip_frames() -> None:
    gate = ChangeGate(GateOptions(threshold=4.0, max_skip=3))
    frame = _textured()
    decisions = [gate.check(frame) for _ in range(9)]
    assert decisions == [True, False, False, False, True, False, False, False, True]


def test_the_gate_measures_against_the_last_segmented_frame_not_the_previous_one() -> None:
    # A slow drift: each frame 1 level brighter than the last. Frame to frame nothing changes, but
    # against the last segmented frame the change adds up and the model runs again.
    gate = ChangeGate(GateOptions(threshold=4.0, max_skip=100))
    base = _textured()
    runs = [gate.check(np.clip(base.astype(np.int16) + i, 0, 255).astype(np.uint8)) for i in range(12)]
    assert runs[0] and runs.count(True) >= 2 and not all(runs)
    assert runs.index(True, 1) <= 5


def test_bad_gate_options_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        GateOptions(threshold=0)
    with pytest.raises(ValueError, match="gate"):
        JobSpec.from_dict({"command": "segment", "source": {"path": "x.mp4"}, "mask": {"gate": -1}})


def _alphas(gate: float, source: Path = STILL) -> tuple[list[np.ndarray], dict]:
    spec = JobSpec.from_dict({"command": "segment", "source": {"path": str(require(source))},
                              "outputs": [{"kind": "null"}], "mask": {"gate": gate},
                              "run": {"progress": False}}).check()
    pipeline = build(spec)
    alphas = [np.array(f.alpha) for f in pipeline.frames()]
    assert pipeline.stats is not None
    return alphas, pipeline.stats.extra


def test_a_gated_file_job_runs_the_model_less_and_keeps_the_masks() -> None:
    reference, extra = _alphas(0.0)
    assert "gate" not in extra  # files: off unless asked
    gated, extra = _alphas(4.0)
    gate = extra["gate"]
    assert len(gated) == len(reference) == 367
    assert gate["segmented"] + gate["skipped"] == 367
    assert gate["skipped"] >= 20  # the man sits still: many frames need no model run
    # Each skipped frame held the last mask (nothing changed: no optical flow), none was moved.
    assert extra["carry"]["held_frames"] == gate["skipped"] and extra["carry"]["carried_frames"] == 0
    ious = [region_iou(a > 0.5, b > 0.5) for a, b in zip(gated, reference, strict=True)]
    assert min(ious) > 0.9 and float(np.mean(ious)) > 0.97


def test_with_the_gate_on_and_every_frame_changed_the_masks_are_exactly_the_ungated_ones() -> None:
    # DAVIS lucia: a woman walking; every frame changes, so every frame is segmented, and the
    # carry stage the gate brings along must pass each frame's own mask through untouched.
    from tests.conftest import DAVIS

    lucia = DAVIS / "lucia" / "JPEGImages"
    plain, _ = _alphas(0.0, lucia)
    gated, extra = _alphas(4.0, lucia)
    assert extra["gate"]["skipped"] == 0
    assert all(np.array_equal(a, b) for a, b in zip(plain, gated, strict=True))
