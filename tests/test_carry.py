"""Optical-flow carry-forward: moves masks with the image, beats holding them stale, and drives
``--infer-every K`` deterministically on files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtseg.bench import carry as carry_bench
from rtseg.frame import Frame, StreamInfo
from rtseg.temporal import Carrier, CarryStage
from tests.conftest import DAVIS, ROOT, read_mask, require, run_cli, visible


def test_carrier_follows_a_moving_object() -> None:
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)
    image = (texture // 4).astype(np.uint8)
    obj = (slice(60, 120), slice(100, 160))
    image[obj] = texture[obj]
    mask = np.zeros((180, 320), np.float32)
    mask[obj] = 1.0
    carrier = Carrier(blend_frames=0)
    carrier.push(image, 0)
    carrier.set_key(0, mask)
    assert np.array_equal(carrier.current(), mask), "on its own frame the mask is used as it is"
    moved, moved_mask = image, mask
    for i in range(1, 4):  # 5 px per frame to the right, 2 down
        moved = np.roll(np.roll(moved, 5, axis=1), 2, axis=0)
        moved_mask = np.roll(np.roll(moved_mask, 5, axis=1), 2, axis=0)
        carrier.push(moved, i)
        out = carrier.current()
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
    stage = CarryStage(live=False)
    stage.open(StreamInfo(160, 90))
    img = np.zeros((90, 160, 3), np.uint8)
    first = Frame(img, 0, alpha=np.ones((90, 160), np.float32))
    assert stage.process(first).extras["carry_age"] == 0
    second = stage.process(Frame(img, 1))
    assert second.alpha is not None and second.extras["carry_age"] == 1
    assert np.allclose(second.alpha, 1.0)
    fresh = stage.process(Frame(img, 2, alpha=np.zeros((90, 160), np.float32)))
    assert fresh.alpha is not None and np.allclose(fresh.alpha, 0.5), "a fresh mask is blended in, no jump"
    assert stage.ages == [0, 1, 0]


@pytest.mark.slow
def test_infer_every_k_on_files_is_deterministic_and_fills_every_frame(tmp_path: Path) -> None:
    images = require(DAVIS / "lucia" / "JPEGImages")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        r = run_cli("segment", str(images), "--masks", str(out), "--infer-every", "4", "--no-progress",
                    "--stats-json", str(tmp_path / f"{name}.json"))
        assert r.returncode == 0, r.stderr
        runs.append(out)
    names = [p.name for p in visible(runs[0])]
    assert len(names) == 70
    for n in names:
        assert np.array_equal(read_mask(runs[0] / n), read_mask(runs[1] / n))
    stats = json.loads((tmp_path / "a.json").read_text())
    assert stats["stages"]["segment"]["count"] == 70 and "carry" in stats["stages"]


@pytest.mark.slow
def test_the_benchmark_script_writes_the_table_and_json_of_the_package_helpers(tmp_path: Path) -> None:
    seq = require(DAVIS / "blackswan")
    out_json, out_md = tmp_path / "carry.json", tmp_path / "carry.md"
    r = subprocess.run([sys.executable, "benchmarks/carry.py", str(seq), str(tmp_path), "--json", str(out_json),
                        "--markdown", str(out_md)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out_json.read_text())
    assert list(doc["sequences"]) == ["blackswan"], "a folder without Annotations/ is skipped"
    assert (doc["mode"], doc["ks"], doc["flow_width"], doc["preset"]) == ("files", [2, 4, 8], 640, "ultrafast")
    per = doc["sequences"]["blackswan"]
    images, masks = carry_bench.load_sequence(seq)
    assert per["k4-flow"]["iou"] == carry_bench.run(images, masks, 4, "flow")["iou"], "the package's run()"
    for k in (2, 4, 8):
        assert per[f"k{k}-flow"]["iou"] > per[f"k{k}-stale"]["iou"]
        assert doc["mean"][f"k{k}-flow"] == {m: per[f"k{k}-flow"][m] for m in ("iou", "boundary_f")}
    table = out_md.read_text()
    assert table in r.stdout and "| blackswan |" in table and "| mean |" in table
