"""Mask quality on DAVIS ground truth: the metrics themselves, ROI tracking, refinement, and the
default mask path against the raw model (boundary F at least raw + 0.03, flicker at most half the raw
model's, region IoU not lower)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtseg.bench import quality
from rtseg.effects.composite import light_wrap
from rtseg.imaging.refine import RefineMode, RefineOptions, refine_alpha
from rtseg.metrics import SequenceScore, boundary_f, region_iou, seg2bmap, stable_region
from rtseg.segment import SelfieSegmenter
from rtseg.segment.roi import RoiSegmenter, square_box, work_size
from rtseg.sources import VideoFileSource
from tests.conftest import DAVIS, ROOT, require


def disc(h: int, w: int, cx: int, cy: int, r: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m > 0


def test_boundary_f_is_one_for_identical_masks_and_falls_with_displacement() -> None:
    gt = disc(480, 854, 400, 240, 100)
    assert boundary_f(gt, gt) == 1.0
    # Tolerance is ceil(0.008 * 979) = 8 px: a 5 px shift still matches, a 30 px shift does not.
    assert boundary_f(disc(480, 854, 405, 240, 100), gt) > 0.9
    assert boundary_f(disc(480, 854, 430, 240, 100), gt) < 0.5
    assert boundary_f(np.zeros_like(gt), gt) == 0.0


def test_seg2bmap_marks_a_one_pixel_boundary() -> None:
    m = np.zeros((10, 10), bool)
    m[3:7, 3:7] = True
    b = seg2bmap(m)
    assert b.sum() > 0 and not b[5, 5] and b[6, 4] and b[4, 6] and not b[0, 0]


def test_flicker_counts_only_stable_pixels_away_from_the_boundary() -> None:
    gt = disc(100, 100, 50, 50, 20)
    region = stable_region(gt, gt)
    assert not region[50, 30] and region[50, 50] and region[5, 5]  # (50, 30) is on the boundary
    score = SequenceScore()
    a = gt.astype(np.float32)
    score.add(a, gt)
    noisy = a.copy()
    noisy[50, 30] = 0.0  # a change on the boundary does not count
    score.add(noisy, gt)
    assert score.summary()["flicker"] == 0.0
    noisy2 = noisy.copy()
    noisy2[5:15, 5:15] = 0.5  # a change in the stable background does
    score.add(noisy2, gt)
    assert score.summary()["flicker"] > 0.0
    assert region_iou(gt, gt) == 1.0


def test_square_box_grows_and_refuses_boxes_that_do_not_fit() -> None:
    m = np.zeros((360, 640), np.float32)
    m[100:200, 300:340] = 1
    x, y, s, s2 = square_box(m, 0.15)  # type: ignore[misc]
    assert s == s2 == 130 and x <= 300 and x + s >= 340 and y <= 100 and y + s >= 200
    m[:, 100:540] = 1  # someone filling the frame: no crop
    assert square_box(m, 0.15) is None
    assert square_box(np.zeros((10, 10), np.float32), 0.1) is None
    assert work_size(854, 480) == (480, 270)


def test_roi_tracking_runs_one_model_pass_on_most_frames(juggle: Path) -> None:
    with VideoFileSource(juggle) as src, RoiSegmenter(redetect_every=15) as roi:
        for _ in range(60):
            frame = src.read()
            assert frame is not None
            alpha = roi.infer(frame.image)
        assert alpha.shape == (270, 480)
        assert roi.stats.crop_passes == 60
        assert roi.stats.full_passes <= 60 // 15 + 4


def test_guided_refinement_snaps_a_blocky_alpha_to_the_image_edge() -> None:
    h, w = 240, 320
    image = np.zeros((h, w, 3), np.uint8)
    image[:, 160:] = 255
    true = np.zeros((h, w), np.float32)
    true[:, 160:] = 1.0
    # The model's view: low resolution, soft, and a few pixels off the real edge.
    off = np.zeros((h, w), np.float32)
    off[:, 154:] = 1.0
    coarse = cv2.resize(off, (20, 15), interpolation=cv2.INTER_AREA)
    plain = refine_alpha(coarse, image, RefineOptions(RefineMode.NONE))
    guided = refine_alpha(coarse, image, RefineOptions(RefineMode.GUIDED, radius=8, eps=1e-4, scale=2))
    assert guided.shape == (h, w)

    def crossing(a: np.ndarray) -> int:
        return int(np.argmax(a[h // 2] > 0.5))

    assert abs(crossing(plain) - 160) >= 4, "the unrefined alpha sits off the edge"
    assert abs(crossing(guided) - 160) <= 1, "the guided filter moves it onto the image edge"
    assert np.abs(guided - true).mean() < np.abs(plain - true).mean()
    assert guided.min() >= 0.0 and guided.max() <= 1.0


def test_edge_refinement_moves_the_edge_onto_the_image_edge_and_keeps_it_sharp() -> None:
    h, w = 270, 480
    image = np.full((h, w, 3), 40, np.uint8)
    image[:, 240:] = (200, 180, 160)
    off = np.zeros((h, w), np.float32)
    off[:, 236:] = 1.0  # the model's edge, 4 px off the real one and soft from its low resolution
    coarse = cv2.resize(cv2.resize(off, (60, 34), interpolation=cv2.INTER_AREA), (w, h))
    plain = refine_alpha(coarse, image, RefineOptions(RefineMode.NONE))
    edge = refine_alpha(coarse, image, RefineOptions(RefineMode.EDGE))
    row_plain, row_edge = plain[h // 2], edge[h // 2]
    assert abs(int(np.argmax(row_plain > 0.5)) - 240) >= 4
    assert abs(int(np.argmax(row_edge > 0.5)) - 240) <= 1
    soft = lambda row: int(((row > 0.02) & (row < 0.98)).sum())  # noqa: E731
    assert soft(row_edge) <= 3 < soft(row_plain), "the ramp after the filter keeps the edge steep"
    assert edge.min() >= 0.0 and edge.max() <= 1.0


def test_edge_refinement_upsamples_to_the_frame_and_leaves_confident_regions_alone() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)  # busy texture everywhere
    alpha = np.zeros((270, 480), np.float32)
    alpha[100:200, 300:380] = 1.0
    alpha[100:200, 299] = 0.5
    out = refine_alpha(alpha, image, RefineOptions(RefineMode.EDGE))
    assert out.shape == (720, 1280) and np.isfinite(out).all()
    assert out.max() == 1.0, "the person is there"
    assert (out[:, :640] == 0).all(), "far from the uncertain band the alpha stays as it was"
    assert (out[330:500, 830:990] == 1).all()
    flat = refine_alpha(np.full((270, 480), 0.5, np.float32), np.zeros((720, 1280, 3), np.uint8),
                        RefineOptions(RefineMode.EDGE))
    assert np.isfinite(flat).all(), "a flat image (no colour variance) must not divide by zero"
    empty = refine_alpha(np.zeros((270, 480), np.float32), image, RefineOptions(RefineMode.EDGE))
    assert not empty.any()


@pytest.mark.parametrize("seq", ["lucia", "dance-twirl"])
def test_edge_refinement_takes_the_edge_leak_down_on_ground_truth(seq: str) -> None:
    folder = require(DAVIS / seq)
    default = quality.default_variant()
    assert default.refine.mode is RefineMode.EDGE
    unrefined, _ = quality.evaluate(folder, quality.MaskVariant("none", default.segmenter, default.smoothing))
    edge, _ = quality.evaluate(folder, default)
    assert edge["outside_leak"] <= 0.9 * unrefined["outside_leak"]
    assert edge["inside_loss"] <= unrefined["inside_loss"]
    assert edge["iou"] >= unrefined["iou"] + 0.01
    assert edge["flicker"] <= unrefined["flicker"]


def test_light_wrap_only_touches_the_foreground_edge() -> None:
    alpha = np.zeros((100, 100), np.float32)
    alpha[20:80, 20:80] = 1
    comp = np.zeros((100, 100, 3), np.uint8)
    bg = np.full((100, 100, 3), 255, np.uint8)
    out = light_wrap(comp, bg, alpha)
    assert out[50, 21].mean() > 20, "edge of the person picks up background light"
    assert out[50, 50].mean() < 5, "the middle of the person does not"
    assert out[5, 5].mean() == 0, "background pixels (alpha 0) are left alone"


@pytest.mark.parametrize("seq", ["lucia", "dance-twirl"])
def test_default_mask_path_beats_the_raw_model_on_ground_truth(seq: str) -> None:
    folder = require(DAVIS / seq)
    raw, _ = quality.evaluate(folder, quality.MaskVariant("raw", lambda: SelfieSegmenter("auto")))
    default, _ = quality.evaluate(folder, quality.default_variant())
    assert default["iou"] >= raw["iou"]
    assert default["boundary_f"] >= raw["boundary_f"] + 0.03
    assert default["flicker"] <= 0.5 * raw["flicker"]


@pytest.mark.slow
def test_the_benchmark_script_writes_the_table_json_and_flicker_images(tmp_path: Path) -> None:
    seq = require(DAVIS / "lucia")
    out_json, out_md, plots = tmp_path / "q.json", tmp_path / "q.md", tmp_path / "flicker"
    r = subprocess.run([sys.executable, "benchmarks/quality.py", str(seq), "--only", "raw (selfie auto)", "default",
                        "--json", str(out_json), "--markdown", str(out_md), "--plot-row", "0.6",
                        "--plot-dir", str(plots), "--edges-dir", str(tmp_path / "edges"),
                        "--edges", "raw (selfie auto)", "default"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out_json.read_text())
    assert doc["variants"] == ["raw (selfie auto)", "default"]
    default = doc["sequences"]["lucia"]["default"]
    assert default["frames"] == 70 and doc["mean"]["default"]["iou"] == default["iou"]
    assert default["boundary_f"] > doc["sequences"]["lucia"]["raw (selfie auto)"]["boundary_f"]
    assert sorted(p.name for p in plots.iterdir()) == ["lucia-default.png", "lucia-raw__selfie_auto_.png"]
    assert cv2.imread(str(plots / "lucia-default.png"), cv2.IMREAD_GRAYSCALE).shape == (70 * 4, 854)
    assert "| default |" in out_md.read_text()
    assert 0 <= default["outside_leak"] < 1 and 0 <= default["inside_loss"] < 1
    assert "lucia leak | lucia loss" in out_md.read_text()
    crops = cv2.imread(str(tmp_path / "edges" / "lucia-00034.png"))
    assert crops is not None and crops.shape[1] == 3 * (96 * 3 + 4), "input, raw and default side by side"
    bad = subprocess.run([sys.executable, "benchmarks/quality.py", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "not a DAVIS-style folder" in bad.stderr
