"""Temporal smoothing: the formulas, motion gating (no ghosting), the output ramp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtseg.temporal import SmoothingMode, SmoothingOptions, TemporalSmoother, uncertainty


def test_uncertainty_is_one_at_half_and_zero_at_the_extremes() -> None:
    u = uncertainty(np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]))
    assert u[3] == pytest.approx(1.0)
    assert u[0] == pytest.approx(0.0, abs=1e-3) and u[-1] == pytest.approx(0.0, abs=1e-3)
    assert u[1] < u[2] < u[3] and u[5] < u[4] < u[3]
    assert u[1] == pytest.approx(u[5], abs=1e-6)


def test_ema_blends_by_the_given_weight() -> None:
    s = TemporalSmoother(SmoothingOptions(SmoothingMode.EMA, ema_weight=0.25, low=0.0, high=1.0))
    s.apply(np.zeros((4, 4), np.float32))
    out = s.apply(np.ones((4, 4), np.float32))
    assert np.allclose(out, 0.25)


def test_uncertainty_mode_keeps_confident_pixels_and_steadies_uncertain_ones() -> None:
    s = TemporalSmoother(SmoothingOptions(SmoothingMode.UNCERTAINTY, ratio=0.8, low=0.0, high=1.0))
    s.apply(np.full((1, 2), 0.2, np.float32))
    out = s.apply(np.array([[1.0, 0.5]], np.float32))
    assert out[0, 0] == pytest.approx(1.0, abs=0.01), "a confident new value is taken as it is"
    assert out[0, 1] == pytest.approx(0.5 + (0.2 - 0.5) * 0.8, abs=0.01), "an uncertain one leans on history"


def test_motion_gating_follows_the_new_mask_where_the_image_moved() -> None:
    opts = SmoothingOptions(SmoothingMode.MOTION, ratio=0.9, motion_threshold=40, low=0.0, high=1.0)
    s = TemporalSmoother(opts)
    grey0 = np.full((32, 32), 100, np.uint8)
    grey1 = grey0.copy()
    grey1[:, 16:] = 220  # the right half of the image changed a lot
    s.apply(np.zeros((32, 32), np.float32), grey0)
    out = s.apply(np.full((32, 32), 0.5, np.float32), grey1)
    assert out[16, 4] < 0.1, "still region: history dominates an uncertain value"
    assert out[16, 28] > 0.45, "moving region: the new mask wins (no ghost)"


def test_output_ramp_keeps_soft_values_soft() -> None:
    s = TemporalSmoother(SmoothingOptions(SmoothingMode.NONE, low=0.1, high=0.9))
    out = s.apply(np.array([[0.05, 0.1, 0.5, 0.7, 0.95]], np.float32))
    assert out.tolist()[0] == pytest.approx([0.0, 0.0, 0.5, 0.75, 1.0], abs=1e-6)


def test_history_is_reset_when_the_mask_size_changes() -> None:
    s = TemporalSmoother(SmoothingOptions(SmoothingMode.EMA, ema_weight=0.5, low=0.0, high=1.0))
    s.apply(np.zeros((4, 4), np.float32))
    out = s.apply(np.ones((8, 8), np.float32))
    assert np.allclose(out, 1.0)


def test_live_smoothed_segmenter_gives_the_file_paths_mask(tmp_path: Path) -> None:
    """The live worker's wrapped segmenter produces exactly the alpha of the file path's stages."""
    from rtseg.jobs.build import build
    from rtseg.jobs.segmenters import MaskedSegmenter, production_segmenter
    from rtseg.jobs.spec import JobSpec
    from rtseg.sources import ImageFolderSource
    from rtseg.temporal import MaskStage
    from tests.conftest import DAVIS, require

    folder = require(DAVIS / "lucia" / "JPEGImages")
    file_job = build(JobSpec.from_dict({"command": "segment", "source": {"path": str(folder)},
                                        "outputs": [{"kind": "masks", "path": str(tmp_path)}]}).check())
    seg_stage, mask_stage = file_job.stages
    assert isinstance(mask_stage, MaskStage) and not seg_stage.upsample
    live = production_segmenter(JobSpec.from_dict({"command": "webcam", "outputs": [{"kind": "null"}]}).check())
    assert isinstance(live, MaskedSegmenter)
    src = ImageFolderSource(folder)
    info = src.open()
    frames = [src.read() for _ in range(6)]
    src.close()
    seg_stage.open(info)
    mask_stage.open(info)
    live.open(info)
    try:
        for f in frames:
            assert f is not None
            result = live.segment(f)
            expected = mask_stage.process(seg_stage.process(f)).alpha
            assert result is not None and result.index == f.index
            assert result.alpha.shape == (480, 854)
            assert np.array_equal(result.alpha, expected)
    finally:
        live.close()
        mask_stage.close()
        seg_stage.close()
