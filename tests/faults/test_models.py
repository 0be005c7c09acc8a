"""Broken SAM 2 model folders and prompts outside the frame: one line, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.faults.conftest import assert_refused, rtseg

pytestmark = pytest.mark.slow


def model_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_manifest(model: Path, change: dict[str, object]) -> None:
    m = json.loads((model / "manifest.json").read_text())
    for key, value in change.items():
        if key in m:
            m[key] = value
        else:
            m["settings"][key] = value
    (model / "manifest.json").write_text(json.dumps(m))


BREAKS = {
    "graph missing": (lambda m: (m / "memory_attention.onnx").unlink(), "missing memory_attention.onnx"),
    "graph truncated": (lambda m: (m / "mask_decoder.onnx").write_bytes((m / "mask_decoder.onnx").read_bytes()[:999]),
                        "checksum mismatch"),
    "wrong checksum": (lambda m: (m / "constants.npz").write_bytes((m / "constants.npz").read_bytes() + b"x"),
                       "checksum mismatch"),
    "manifest missing": (lambda m: (m / "manifest.json").unlink(), "has no manifest.json"),
    "manifest not JSON": (lambda m: (m / "manifest.json").write_text("{ not json"), "cannot read"),
    "image_size": (lambda m: edit_manifest(m, {"image_size": 1024}), "image_size = 1024 does not match"),
    "hidden_dim": (lambda m: edit_manifest(m, {"hidden_dim": 128}), "hidden_dim = 128 does not match"),
    "num_maskmem": (lambda m: edit_manifest(m, {"num_maskmem": 0}), "num_maskmem = 0 does not match"),
    "variant": (lambda m: edit_manifest(m, {"variant": "huge"}), "variant 'huge' is not one of"),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_broken_model_folder_is_one_line(name: str, sam2_model_dir: Path, bedroom_dir: Path,
                                           tmp_path: Path) -> None:
    model = model_copy(sam2_model_dir, tmp_path / "model")
    brk, match = BREAKS[name]
    brk(model)
    ended = rtseg("track", str(bedroom_dir), "--model-dir", "model", "--point", "210,350", "--masks", "m",
                  "--no-progress", cwd=tmp_path)
    assert_refused(ended, 1, match)
    assert not (tmp_path / "m").exists()


def test_a_live_prompt_outside_the_frame_is_one_line(sam2_model_dir: Path, bedroom_dir: Path,
                                                     tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    ended = rtseg("blur", str(bedroom_dir), "-o", str(clip), "--no-progress", cwd=tmp_path)  # a video to replay
    assert ended.code == 0, ended.stderr
    ended = rtseg("webcam", "--source", str(clip), "--realtime", "--model", "sam2", "--model-dir",
                  str(sam2_model_dir), "--point", "1e9,5", "--sink", "null", "--duration", "5", "--no-status",
                  cwd=tmp_path)
    assert_refused(ended, 2, "outside the frame (960x540")


def test_a_track_prompt_outside_the_frame_is_one_line(sam2_model_dir: Path, bedroom_dir: Path,
                                                      tmp_path: Path) -> None:
    ended = rtseg("track", str(bedroom_dir), "--model-dir", str(sam2_model_dir), "--box", "5,5,5000,20",
                  "--masks", "m", "--no-progress", cwd=tmp_path)
    assert_refused(ended, 2, "outside the frame")
    assert not (tmp_path / "m").exists()


def test_rvm_dir_pointing_at_a_file_is_named_not_advised_as_an_output(tmp_path: Path) -> None:
    """``RTSEG_RVM_DIR`` set to a file: say so; never advise `import-rvm --out` that file (it was /etc/passwd)."""
    import os
    import subprocess
    import sys

    (tmp_path / "in.mp4").write_bytes((Path(__file__).resolve().parents[2] / "rtseg" / "sources" / "media" /
                                       "sample.mp4").read_bytes())
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0")
    env = dict(os.environ, RTSEG_RVM_DIR=str(a_file), COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "rtseg", "blur", "in.mp4", "-o", "o.mp4", "--quality", "high",
                           "--no-progress"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert f"$RTSEG_RVM_DIR ({a_file}) is a file, not an RVM model folder" in proc.stderr
    assert "--out" not in proc.stderr and not (tmp_path / "o.mp4").exists()
    assert a_file.read_text() == "root:x:0:0"
    devices = subprocess.run([sys.executable, "-m", "rtseg", "devices"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert "--quality high (rvm): not usable: $RTSEG_RVM_DIR" in devices.stdout
