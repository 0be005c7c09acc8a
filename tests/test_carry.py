"""Optical-flow carry-forward: moves masks with the image, beats holding them stale, and drives
``--infer-every K`` deterministically on files."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from rtseg.frame import Frame
from rtseg.temporal import CarryStage, FlowCarrier
from tests.conftest import DAVIS, ROOT, read_mask, require, run_cli

sys.path.insert(0, str(ROOT / "benchmarks"))
import carry as carry_bench


def test_carrier_follows_a_moving_object() -> None:
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
    image = (texture // 4).astype(np.uint8)
    obj = (slice(60, 120), slice(100, 160))
    image[obj] = texture[obj]
    mask = np.zeros((180, 320), np.float32)
    mask[obj] = 1.0
    carrier = FlowCarrier()
    carrier.set_key(image, mask)
    moved, moved_mask = image, mask
    for _ in range(3):  # 5 px per frame to the right, 2 down
        moved = np.roll(np.roll(moved, 5, axis=1), 2, axis=0)
        moved_mask = np.roll(np.roll(moved_mask, 5, axis=1), 2, axis=0)
        out = carrier.carry(moved)
    inter = np.logical_and(out > 0.5, moved_mask > 0.5).sum()
    union = np.logical_or(out > 0.5, moved_mask > 0.5).sum()
    stale = np.logical_and(mask > 0.5, moved_mask > 0.5).sum() / np.logical_or(mask > 0.5, moved_mask > 0.5).sum()
    assert inter / union > 0.9 > stale
    assert carrier.age == 3


@pytest.mark.parametrize("seq", ["dance-twirl", "car-turn"])
def test_flow_beats_the_stale_mask_on_ground_truth(seq: str) -> None:
    images, masks = carry_bench.load_sequence(require(DAVIS / seq))
    flow = carry_bench.run(images, masks, 4, "flow")
    stale = carry_bench.run(images, masks, 4, "stale")
    assert flow["iou"] > stale["iou"] + 0.02
    assert flow["boundary_f"] > stale["boundary_f"]


def test_carry_stage_blends_a_fresh_mask_in_and_records_the_age() -> None:
    stage = CarryStage()
    stage.open()
    img = np.zeros((90, 160, 3), np.uint8)
    first = Frame(img, 0, alpha=np.ones((90, 160), np.float32))
    assert stage.process(first).extras["carry_age"] == 0
    second = stage.process(Frame(img, 1))
    assert second.alpha is not None and second.extras["carry_age"] == 1
    assert np.allclose(second.alpha, 1.0)
    fresh = stage.process(Frame(img, 2, alpha=np.zeros((90, 160), np.float32)))
    assert fresh.alpha is not None and np.allclose(fresh.alpha, 0.5), "a fresh mask is blended in, no jump"
    assert stage.ages == [0, 1, 0]


def test_infer_every_k_on_files_is_deterministic_and_fills_every_frame(tmp_path: Path) -> None:
    images = require(DAVIS / "lucia" / "JPEGImages")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = run_cli("segment", str(images), "--masks", str(out), "--infer-every", "4", "--no-progress",
                    "--stats-json", str(tmp_path / f"{name}.json"))
        assert r.returncode == 0, r.stderr
        runs.append(out)
    names = sorted(p.name for p in runs[0].iterdir())
    assert len(names) == 70
    for n in names:
        assert np.array_equal(read_mask(runs[0] / n), read_mask(runs[1] / n))
    import json

    stats = json.loads((tmp_path / "a.json").read_text())
    assert stats["stages"]["segment"]["count"] == 70 and "carry" in stats["stages"]
