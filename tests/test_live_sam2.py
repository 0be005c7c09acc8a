"""SAM 2 on the live path with the real tracker (random-weight tiny export at 512, made once per
session by ``tests/sam2_conftest.py``): the job's prompt, click-to-track from the clicked frame,
clearing, and a short real-time run whose stats show the inference rate and carry-forward age."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtseg.controls.prompts import PromptControls
from rtseg.errors import ConfigError
from rtseg.frame import Frame
from rtseg.jobs import JobPipeline, JobSpec, build
from rtseg.segment.base import NewestFrame, Segmenter
from rtseg.segment.prompts import Prompt
from rtseg.segment.sam2.segmenter import CLICK_OBJECT_ID, Sam2Segmenter, logits_to_alpha
from rtseg.sources.realtime import RealtimeSource
from tests.conftest import DATA, require
from tests.test_live_flow import LockstepClock

POINT = (210.0, 350.0)  # the SAM 2 notebook's click on the bedroom video


def reference(model_dir: Path, frames: list[np.ndarray], steps: list[tuple[int, list, list]]) -> list[np.ndarray]:
    """Alpha of a plain Sam2Tracker fed the given (frame index, points, labels) steps."""
    from rtseg.segment.sam2.tracker import Sam2Tracker

    out = []
    with Sam2Tracker(model_dir, provider="cpu", intra_op_threads=1) as tracker:
        for idx, pts, labels in steps:
            if pts:
                tracker.add_points(idx, CLICK_OBJECT_ID, pts, labels, clear_old_points=False)
            out.append(logits_to_alpha(tracker.track(frames[idx], idx).video_logits))
    return out


def live_segmenter(model_dir: Path, prompts: list[Prompt] | None = None,
                   controls: PromptControls | None = None) -> Sam2Segmenter:
    return Sam2Segmenter(model_dir, prompts or [], feed=controls, threads=1, provider="cpu", live=True)


@pytest.mark.slow
def test_the_job_prompt_tracks_from_the_first_frame_as_the_tracker_does(
        sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    seg = live_segmenter(sam2_model_dir, [Prompt(points=[POINT], labels=[1])])
    assert isinstance(seg, Segmenter)
    seg.open()
    try:
        got = [seg.segment(Frame(bedroom_frames[i], index=i)) for i in (0, 3)]  # a gap, as live
    finally:
        seg.close()
    want = reference(sam2_model_dir, bedroom_frames, [(0, [POINT], [1]), (3, [], [])])
    for r, w, i in zip(got, want, (0, 3), strict=True):
        assert r is not None and r.index == i
        assert r.alpha.shape == bedroom_frames[0].shape[:2] and r.alpha.dtype == np.float32
        assert r.objects is not None and r.objects.obj_ids == [CLICK_OBJECT_ID]
        np.testing.assert_allclose(r.alpha, w, atol=1e-5)
    assert seg.tracking.tracked_frames == 2


@pytest.mark.slow
def test_clicks_start_tracking_on_the_clicked_frame_and_clear_forgets_the_object(
        sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    controls = PromptControls()
    seg = live_segmenter(sam2_model_dir, controls=controls)
    seg.open()
    try:
        assert seg.segment(Frame(bedroom_frames[0], index=0)) is None  # nothing to track yet
        clicked = Frame(bedroom_frames[2], index=2)
        controls.mouse(cv2.EVENT_LBUTTONDOWN, int(POINT[0]), int(POINT[1]), 2, clicked)
        r = seg.segment(Frame(bedroom_frames[4], index=4))  # the worker's next frame is newer
        assert r is not None and r.index == 2 and seg.tracking.clicked_frames == 1  # tracked on the clicked frame
        r5 = seg.segment(Frame(bedroom_frames[5], index=5))
        assert r5 is not None and r5.index == 5
        want = reference(sam2_model_dir, bedroom_frames, [(2, [POINT], [1]), (5, [], [])])
        np.testing.assert_allclose(r.alpha, want[0], atol=1e-5)
        np.testing.assert_allclose(r5.alpha, want[1], atol=1e-5)

        controls.clear()
        gone = seg.segment(Frame(bedroom_frames[6], index=6))
        assert gone is not None and float(gone.alpha.max()) == 0.0 and seg.tracking.resets == 1
        assert seg.segment(Frame(bedroom_frames[7], index=7)) is None
    finally:
        seg.close()


def test_a_click_outside_the_frame_is_clamped_not_fatal(
        sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    controls = PromptControls()
    seg = live_segmenter(sam2_model_dir, controls=controls)
    seg.open()
    try:
        w = bedroom_frames[0].shape[1]
        controls.mouse(cv2.EVENT_RBUTTONDOWN, w + 50, -10, 0, None)
        controls.mouse(cv2.EVENT_LBUTTONDOWN, 10, 10, 0, None)
        r = seg.segment(Frame(bedroom_frames[0], index=0))
        assert r is not None and r.index == 0 and seg.tracking.clicked_frames == 0
    finally:
        seg.close()


def sam2_replay_spec(model_dir: Path, clip: Path, duration: float) -> JobSpec:
    return JobSpec.from_dict({
        "command": "webcam",
        "source": {"path": str(clip), "realtime": True, "loop": False},
        "model": {"name": "sam2", "dir": str(model_dir), "threads": 1, "prompts": [{"points": [[700, 240]]}]},
        "outputs": [{"kind": "null"}],
        "run": {"duration": duration, "status": False, "queue_size": 128},  # queues that hold the whole run
    }).check()


def lockstep_replay(model_dir: Path, clip: Path, lag: int, duration: float = 2.0) -> tuple[JobPipeline, list[int]]:
    """The live SAM 2 job on ``clip`` replayed on a clock in lockstep with the graph, the model taking ``lag``
    camera frames per answer (however long it really takes here), and the frames it starts on (filled as it
    runs): the same frames are segmented and carried on any machine."""
    pipeline = build(sam2_replay_spec(model_dir, clip, duration))
    model = pipeline.segment.segmenter
    started: list[int] = []
    segment = model.segment

    def record(frame: Frame):  # type: ignore[no-untyped-def]
        started.append(frame.index)
        return segment(frame)

    model.segment = record  # type: ignore[method-assign]
    pipeline.source = RealtimeSource(clip, loop=False, duration_s=duration,
                                     clock=LockstepClock(pipeline, started, lag), label=str(clip))
    return pipeline, started


@pytest.mark.slow
def test_live_sam2_replay_delivers_every_frame_with_inference_rate_and_carry_age_in_the_stats(
        sam2_model_dir: Path) -> None:
    clip = require(DATA / "gallery" / "05_default_juggle.mp4")  # 1280x720, 24 fps
    lag = 15  # SAM 2 takes 15 camera frames per answer
    pipeline, started = lockstep_replay(sam2_model_dir, clip, lag)
    assert isinstance(pipeline.segment.schedule, NewestFrame)
    assert pipeline.segment.schedule.max_wait_s == 0.0  # SAM 2 never makes a frame wait for its own mask
    model = pipeline.segment.segmenter
    assert isinstance(model, Sam2Segmenter) and model.live and model.model.intra_op_threads == 1
    stats = pipeline.run()
    doc = stats.to_json()
    live = doc["live"]
    assert doc["frames_in"] == doc["frames_out"] == 48 and doc["dropped"] == 0
    inf = live["inference"]
    assert inf["results"] == len(started) >= 2 and inf["rate_hz"] > 0 and inf["ms"]["p50"] > 0
    assert inf["max_wait_ms"] == 0.0
    assert all(b - a >= lag + 1 for a, b in itertools.pairwise(started))
    # SAM 2 takes many frame times per result: the frames between carry the newest mask, moved by flow.
    carry = live["carry"]
    assert carry["enabled"] and carry["keys"] >= 1 and carry["carried_frames"] >= 10
    assert set(carry["age_frames"]) == {"p50", "p99", "max", "mean"} and carry["age_frames"]["max"] >= 5
    assert live["sam2"]["tracked_frames"] == inf["results"] and live["sam2"]["threads"] == 1
    assert live["sam2"]["prompt_points"] == 1
    # Frames before the first mask were blurred whole; every other frame was composited.
    assert 1 <= live["fail_closed_frames"] <= started[1]
    # The live report keeps every count and figure of a live run: segmented or not, stale masks, frames
    # failed closed, mask age, the effect, outputs, queue sizes and the replay.
    for key in ("segmented", "not_segmented", "stale_masks", "fail_closed_frames", "mask_age_ms", "effect",
                "outputs", "queue_size", "max_queue_depth", "replay"):
        assert key in live
    assert live["segmented"] + live["not_segmented"] == 48 and live["segmented"] == len(started)
    assert "carry" in doc["stages"] and "infer" in doc["stages"]
    # The preview's stats overlay says it too.
    last = pipeline.meter_lines()[-1]
    assert last.startswith("sam2 ") and "carry age" in last


def test_sam2_needs_a_model_dir_and_prompts_need_sam2() -> None:
    base = {"command": "webcam", "source": {"path": "clip.mp4", "realtime": True}, "outputs": [{"kind": "null"}]}
    with pytest.raises(ConfigError, match="--model-dir"):
        JobSpec.from_dict({**base, "model": {"name": "sam2"}}).check()
    with pytest.raises(ConfigError, match="need --model sam2"):
        JobSpec.from_dict({**base, "model": {"prompts": [{"points": [[1, 2]]}]}}).check()
    # Live prompts are points (and a box) for object 1 on the first frame; more come from clicks.
    with pytest.raises(ConfigError, match="click in --preview for more"):
        JobSpec.from_dict({**base, "model": {"name": "sam2", "dir": "d", "prompts": [
            {"points": [[1, 2]], "frame": 5}]}}).check()
