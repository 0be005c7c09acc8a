"""SAM 2 on the live path with the real tracker (random-weight tiny export at 512, made once per
session by ``tests/sam2_conftest.py``): the config prompt, click-to-track from the clicked frame,
clearing, and a short real-time run whose stats show the inference rate and carry-forward age."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rtseg.frame import Frame
from rtseg.live.config import LiveConfig
from rtseg.live.pipeline import LiveSession
from rtseg.live.prompts import PromptControls
from rtseg.live.sam2_live import OBJECT_ID, Sam2LiveSegmenter, logits_to_alpha
from rtseg.live.stages import FrameSegmenter
from tests.conftest import DATA, require

POINT = (210.0, 350.0)  # the SAM 2 notebook's click on the bedroom video


def reference(model_dir: Path, frames: list[np.ndarray], steps: list[tuple[int, list, list]]) -> list[np.ndarray]:
    """Alpha of a plain Sam2Tracker fed the given (frame index, points, labels) steps."""
    from rtseg.segment.sam2.tracker import Sam2Tracker

    out = []
    with Sam2Tracker(model_dir, device="cpu", intra_op_threads=1) as tracker:
        for idx, pts, labels in steps:
            if pts:
                tracker.add_points(idx, OBJECT_ID, pts, labels, clear_old_points=False)
            out.append(logits_to_alpha(tracker.track(frames[idx], idx).video_logits))
    return out


def test_the_config_prompt_tracks_from_the_first_frame_as_the_tracker_does(
        sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    seg = Sam2LiveSegmenter(sam2_model_dir, points=[POINT], labels=[1])
    assert isinstance(seg, FrameSegmenter)
    seg.open()
    try:
        got = [seg.segment_frame(Frame(bedroom_frames[i], index=i)) for i in (0, 3)]  # a gap, as live
    finally:
        seg.close()
    want = reference(sam2_model_dir, bedroom_frames, [(0, [POINT], [1]), (3, [], [])])
    for r, w, i in zip(got, want, (0, 3), strict=True):
        assert r is not None and r.frame.index == i
        assert r.alpha.shape == bedroom_frames[0].shape[:2] and r.alpha.dtype == np.float32
        np.testing.assert_allclose(r.alpha, w, atol=1e-5)
    assert seg.tracked_frames == 2


def test_clicks_start_tracking_on_the_clicked_frame_and_clear_forgets_the_object(
        sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    controls = PromptControls()
    seg = Sam2LiveSegmenter(sam2_model_dir, controls=controls)
    seg.open()
    try:
        assert seg.segment_frame(Frame(bedroom_frames[0], index=0)) is None  # nothing to track yet
        clicked = Frame(bedroom_frames[2], index=2)
        controls.mouse(cv2.EVENT_LBUTTONDOWN, int(POINT[0]), int(POINT[1]), 2, clicked)
        r = seg.segment_frame(Frame(bedroom_frames[4], index=4))  # the worker's next frame is newer
        assert r is not None and r.frame is clicked and seg.clicked_frames == 1
        r5 = seg.segment_frame(Frame(bedroom_frames[5], index=5))
        assert r5 is not None and r5.frame.index == 5
        want = reference(sam2_model_dir, bedroom_frames, [(2, [POINT], [1]), (5, [], [])])
        np.testing.assert_allclose(r.alpha, want[0], atol=1e-5)
        np.testing.assert_allclose(r5.alpha, want[1], atol=1e-5)

        controls.clear()
        gone = seg.segment_frame(Frame(bedroom_frames[6], index=6))
        assert gone is not None and float(gone.alpha.max()) == 0.0 and seg.resets == 1
        assert seg.segment_frame(Frame(bedroom_frames[7], index=7)) is None
    finally:
        seg.close()


def test_a_click_outside_the_frame_is_clamped_not_fatal(
        sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    controls = PromptControls()
    seg = Sam2LiveSegmenter(sam2_model_dir, controls=controls)
    seg.open()
    try:
        w = bedroom_frames[0].shape[1]
        controls.mouse(cv2.EVENT_RBUTTONDOWN, w + 50, -10, 0, None)
        controls.mouse(cv2.EVENT_LBUTTONDOWN, 10, 10, 0, None)
        r = seg.segment_frame(Frame(bedroom_frames[0], index=0))
        assert r is not None and r.frame.index == 0 and seg.clicked_frames == 0
    finally:
        seg.close()


def test_live_sam2_replay_delivers_every_frame_with_inference_rate_and_carry_age_in_the_stats(
        sam2_model_dir: Path) -> None:
    clip = require(DATA / "gallery" / "05_default_juggle.mp4")
    cfg = LiveConfig.model_validate({
        "source": {"file": str(clip), "realtime": True, "loop": False},
        "model": {"name": "sam2", "dir": str(sam2_model_dir), "threads": 1},
        "prompt": {"points": [[700, 240]]},
        "output": {"null": True}, "run": {"duration": 4.0, "status": False}, "flow": {"queue_size": 8},
    })
    assert cfg.max_wait_s == 0.0  # SAM 2 never makes a frame wait for its own mask
    session = LiveSession(cfg)
    stats = session.run()
    doc = stats.to_json()
    live = doc["live"]
    assert doc["frames_out"] >= 0.9 * 24 * 4 and doc["dropped"] == 0
    inf = live["inference"]
    assert inf["results"] >= 1 and inf["rate_hz"] > 0 and inf["ms"]["p50"] > 0
    carry = live["carry"]
    assert carry["enabled"] and carry["keys"] >= 1 and carry["carried_frames"] >= 10
    assert set(carry["age_frames"]) == {"p50", "p99", "max", "mean"} and carry["age_frames"]["max"] >= 5
    assert live["sam2"]["tracked_frames"] == inf["results"] and live["sam2"]["threads"] == 1
    # Everything issue 3 reported is still there.
    for key in ("segmented", "not_segmented", "stale_masks", "fail_closed_frames", "mask_age_ms", "effect",
                "outputs", "queue_size", "max_queue_depth", "replay"):
        assert key in live
    assert "carry" in doc["stages"] and "infer" in doc["stages"]
    # The preview's stats overlay says it too.
    assert session.meter_lines()[-1].startswith("sam2 ") and "carry age" in session.meter_lines()[-1]


def test_sam2_needs_a_model_dir_and_prompts_need_sam2() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="--model-dir"):
        LiveConfig.model_validate({"model": {"name": "sam2"}, "output": {"null": True}})
    with pytest.raises(ValidationError, match="need --model sam2"):
        LiveConfig.model_validate({"prompt": {"points": [[1, 2]]}, "output": {"null": True}})
