"""Interactive SAM 2 (click, look, click again, propagate, correct, re-propagate) against
``SAM2VideoPredictor`` fed the same calls, on the same random weights and frames."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.sam2_conftest import SAM2_FRAMES

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")

from rtseg.errors import ConfigError  # noqa: E402
from rtseg.segment.sam2.interactive import FeatureCache, InteractiveSession  # noqa: E402
from rtseg.segment.sam2.tracker import Sam2Tracker  # noqa: E402

pytestmark = pytest.mark.slow  # the session's SAM 2 export

POINT = [[210.0, 350.0]]
NEGATIVE = [[700.0, 120.0]]
BOX = [400.0, 100.0, 700.0, 400.0]
CORRECTION = [[600.0, 300.0]]


def close(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, what
    spread = float(ref.max() - ref.min())
    assert spread > 0.05, f"{what}: the reference is nearly constant; the comparison would prove nothing"
    diff = float(np.abs(ours - ref).max())
    assert diff <= 1e-3, f"{what}: logits differ by {diff:.2e}"


def reference_run(pred: Any, video_dir: Path) -> dict[str, Any]:
    """The interactive sequence on the reference; every result it shows the user."""
    out: dict[str, Any] = {}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        state = pred.init_state(str(video_dir))
        out["click1"] = pred.add_new_points_or_box(state, 0, 1, points=POINT, labels=[1])[2].numpy()[:, 0]
        out["click2"] = pred.add_new_points_or_box(state, 0, 1, points=NEGATIVE, labels=[0],
                                                   clear_old_points=False)[2].numpy()[:, 0]
        out["box"] = pred.add_new_points_or_box(state, 0, 2, box=BOX)[2].numpy()[:, 0]
        out["first"] = {f: v.numpy()[:, 0] for f, _, v in pred.propagate_in_video(state)}
        out["correct"] = pred.add_new_points_or_box(state, 5, 1, points=CORRECTION, labels=[0],
                                                    clear_old_points=False)[2].numpy()[:, 0]
        out["again"] = {f: v.numpy()[:, 0] for f, _, v in pred.propagate_in_video(state, start_frame_idx=5)}
    return out


def our_run(session: InteractiveSession) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["click1"] = session.add_points(0, 1, POINT, [1]).video_logits
    out["click2"] = session.add_points(0, 1, NEGATIVE, [0], clear_old_points=False).video_logits
    out["box"] = session.add_box(0, 2, BOX).video_logits
    out["first"] = {r.frame_idx: r.video_logits for r in session.propagate()}
    out["correct"] = session.add_points(5, 1, CORRECTION, [0], clear_old_points=False).video_logits
    out["again"] = {r.frame_idx: r.video_logits for r in session.propagate(5)}
    return out


@pytest.fixture(scope="module")
def tracker(sam2_model_dir: Path) -> Any:
    with Sam2Tracker(sam2_model_dir, intra_op_threads=2) as t:
        yield t


def session_for(tracker: Sam2Tracker, frames: list[np.ndarray], budget: int | None = None,
                as_cond: bool | None = None) -> InteractiveSession:
    kwargs: dict[str, Any] = {} if budget is None else {"feature_budget_bytes": budget}
    return InteractiveSession(tracker, lambda i: frames[i], len(frames), corrections_as_conditioning=as_cond, **kwargs)


@pytest.fixture(scope="module")
def reference(sam2_reference: Any, bedroom_dir: Path) -> dict[str, Any]:
    return reference_run(sam2_reference, bedroom_dir)


@pytest.fixture(scope="module")
def reference_as_cond(sam2_model_dir: Path, bedroom_dir: Path) -> dict[str, Any]:
    """The predictor with ``add_all_frames_to_correct_as_cond`` (corrected frames become conditioning)."""
    from sam2.build_sam import build_sam2_video_predictor

    from tests.sam2_conftest import SAM2_IMAGE_SIZE

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", str(sam2_model_dir / "checkpoint.pt"),
                                          device="cpu", hydra_overrides_extra=[
                                              f"++model.image_size={SAM2_IMAGE_SIZE}",
                                              "++model.add_all_frames_to_correct_as_cond=true"])
    return reference_run(pred, bedroom_dir)


def test_corrections_as_conditioning_equal_the_reference_so_configured(tracker, bedroom_frames,
                                                                       reference_as_cond) -> None:
    ours = our_run(session_for(tracker, bedroom_frames, as_cond=True))
    ref = reference_as_cond
    for key in ("click1", "click2", "box", "correct"):
        close(ours[key], ref[key], key)
    for stage in ("first", "again"):
        assert sorted(ours[stage]) == sorted(ref[stage])
        for f, r in ref[stage].items():
            close(ours[stage][f], r, f"{stage} frame {f}")
    # the correction stays on its frame and changes the frames after it
    close(ours["again"][5], ours["correct"], "frame 5 keeps the correction")
    assert float(np.abs(ours["again"][7][0] - ours["first"][7][0]).max()) > 1e-3


def test_the_interactive_sequence_equals_the_reference(tracker, bedroom_frames, reference) -> None:
    ours = our_run(session_for(tracker, bedroom_frames))
    for key in ("click1", "click2", "box", "correct"):
        close(ours[key], reference[key], key)
    assert sorted(ours["first"]) == sorted(reference["first"]) == list(range(SAM2_FRAMES))
    assert sorted(ours["again"]) == sorted(reference["again"]) == list(range(5, SAM2_FRAMES))
    for stage in ("first", "again"):
        for f, ref in reference[stage].items():
            close(ours[stage][f], ref, f"{stage} frame {f}")
    # the second click and the correction changed what the user sees
    assert float(np.abs(ours["click2"][0] - ours["click1"][0]).max()) > 1e-2
    assert float(np.abs(ours["correct"][0] - ours["first"][5][0]).max()) > 1e-2


def test_a_click_on_an_encoded_frame_runs_only_the_decoder(tracker, bedroom_frames) -> None:
    session = session_for(tracker, bedroom_frames)
    session.encode(3)
    assert session.encoder_runs == 1
    session.add_points(3, 1, POINT, [1])
    session.add_points(3, 1, NEGATIVE, [0], clear_old_points=False)
    session.add_box(3, 2, BOX)
    assert session.encoder_runs == 1
    assert len(list(session.propagate())) == SAM2_FRAMES - 3
    assert session.encoder_runs == SAM2_FRAMES - 3  # each frame encoded once
    session.add_points(6, 1, CORRECTION, [0])
    list(session.propagate(6))
    assert session.encoder_runs == SAM2_FRAMES - 3  # re-propagation used the cache


def test_a_tiny_feature_budget_evicts_but_changes_nothing(tracker, bedroom_frames, reference) -> None:
    session = session_for(tracker, bedroom_frames, budget=2 * 4 * 1024**2)  # two frames at 512
    ours = our_run(session)
    assert len(session.cache) <= 2 and session.cache.evictions > 0
    assert session.encoder_runs > SAM2_FRAMES  # frames were encoded again after eviction
    for f, ref in reference["again"].items():
        close(ours["again"][f], ref, f"again frame {f}")
    assert session.feature_bytes_per_frame == 4 * 1024**2


def test_cancel_stops_between_frames(tracker, bedroom_frames) -> None:
    session = session_for(tracker, bedroom_frames)
    session.add_points(0, 1, POINT, [1])
    cancel = threading.Event()
    seen = []
    for r in session.propagate(cancel=cancel):
        seen.append(r.frame_idx)
        if r.frame_idx == 2:
            cancel.set()
    assert seen == [0, 1, 2]
    assert not session.has_result(3)


def test_objects_are_removed_and_prompts_checked(tracker, bedroom_frames) -> None:
    session = session_for(tracker, bedroom_frames)
    session.add_points(0, 1, POINT, [1])
    r = session.add_box(0, 2, BOX)
    assert r.obj_ids == [1, 2] and r.video_logits.shape == (2, 540, 960)
    session.remove_object(1)
    assert session.frame_masks(0).obj_ids == [2]
    with pytest.raises(ConfigError, match="outside the frame"):
        session.add_points(0, 3, [[2000.0, 10.0]], [1])
    with pytest.raises(ConfigError, match="outside the video"):
        session.add_points(SAM2_FRAMES, 3, POINT, [1])
    session.reset()
    with pytest.raises(ConfigError, match="nothing to propagate"):
        list(session.propagate())


def test_the_feature_cache_is_least_recently_used() -> None:
    from rtseg.segment.sam2.model import Features as _Features

    def feats() -> _Features:
        return _Features(np.zeros(256, np.float32), np.zeros(256, np.float32), np.zeros(256, np.float32))

    cache = FeatureCache(budget_bytes=3 * 3 * 1024)
    for i in range(3):
        cache.put(i, feats())
    assert cache.get(0) is not None  # 0 is now the most recent
    cache.put(3, feats())
    assert 1 not in cache and {0, 2, 3} <= {i for i in range(4) if i in cache}
