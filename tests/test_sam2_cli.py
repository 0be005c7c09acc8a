"""``rtseg track`` and ``rtseg export-sam2`` end to end (real subprocess, real files).

The old spellings stay a contract: ``--model DIR`` (the model directory) and ``--device`` (the ONNX
Runtime provider) on ``track``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rtseg.sinks.images import davis_palette
from rtseg.sinks.objects import rle_decode, rle_encode
from tests.conftest import run_cli, visible
from tests.sam2_conftest import SAM2_DATA


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip3")
    for i in range(3):
        (folder / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{i:05d}.jpg")
    return folder


@pytest.mark.slow
def test_track_writes_id_masks_rle_logits_and_video(sam2_model_dir: Path, short_clip: Path, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 2, "box": [400, 100, 700, 400]}]))
    masks, logits, rle, video = tmp_path / "masks", tmp_path / "logits", tmp_path / "m.json", tmp_path / "o.mp4"
    proc = run_cli(
        "track",
        str(short_clip),
        "--model",
        str(sam2_model_dir),
        "--point",
        "210,350",
        "--prompts",
        str(prompts),
        "--masks",
        str(masks),
        "--logits",
        str(logits),
        "--rle",
        str(rle),
        "-o",
        str(video),
        "--effect",
        "blur-background",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 frames" in proc.stderr
    assert [p.name for p in visible(masks)] == ["00000.png", "00001.png", "00002.png"]
    assert [p.name for p in visible(logits)] == ["00000.npy", "00001.npy", "00002.npy"]
    assert video.stat().st_size > 0
    doc = json.loads(rle.read_text())
    assert [f["frame"] for f in doc["frames"]] == [0, 1, 2]
    for i in range(3):
        img = Image.open(masks / f"{i:05d}.png")
        assert img.mode == "P" and img.size == (960, 540)
        assert img.getpalette()[:9] == davis_palette()[:9]
        ids = np.asarray(img)
        lg = np.load(logits / f"{i:05d}.npy")
        assert lg.dtype == np.float32 and lg.shape == (2, 540, 960)
        # object 1 (the click) comes first, object 2 (the box) second; id 2 wins overlaps
        want = np.where(lg[1] > 0, 2, np.where(lg[0] > 0, 1, 0))
        assert np.array_equal(ids, want)
        objects = doc["frames"][i]["objects"]
        assert set(objects) == {"1", "2"}
        for k, obj in enumerate(("1", "2")):
            assert np.array_equal(rle_decode(objects[obj]), lg[k] > 0)


def test_rle_matches_the_coco_format() -> None:
    # column-major runs starting with background: [[0, 1], [1, 1]] -> runs 1, 3 -> "13"
    assert rle_encode(np.array([[0, 1], [1, 1]], bool)) == {"size": [2, 2], "counts": "13"}
    m = np.random.default_rng(1).random((31, 17)) > 0.3
    assert np.array_equal(rle_decode(rle_encode(m)), m)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--point", "2000,10"], 2, "outside the frame"),
        (["--point", "10,10", "--object", "0"], 2, "--point 10,10 --object 0: object id must be in 1..255, got 0"),
        (["--point", "10,10", "--frame", "-1"], 2, "--point 10,10 --frame -1: prompt frame must be >= 0, got -1"),
        (["--point", "10"], 2, "--point expects X,Y[,LABEL], got '10'"),
        (["--point", "10,10,2"], 2, "--point 10,10,2: prompt for object 1 on frame 0: point labels must be 0 "
                                    "(exclude) or 1 (include), got [2]"),
        (["--box", "50,50,10,10"], 2, "--box 50,50,10,10: prompt for object 1 on frame 0: box must be x0,y0,x1,y1 "
                                      "with x0<=x1 and y0<=y1, got [50.0, 50.0, 10.0, 10.0]"),
        (["--point", "10,10", "--device", "gpu"], 2, "unknown device 'gpu'"),
        ([], 2, "give a prompt"),
    ],
)
@pytest.mark.slow
def test_track_bad_prompts(sam2_model_dir, short_clip, tmp_path, args, code, message) -> None:
    proc = run_cli(
        "track", str(short_clip), "--model", str(sam2_model_dir), *args, "--masks", str(tmp_path / "m"), "--no-progress"
    )
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_track_model_name_and_directory_spellings(sam2_model_dir, short_clip, tmp_path) -> None:
    """``--model sam2`` needs ``--model-dir``; ``--model DIR`` is the old spelling of it, not to be given twice."""
    base = ["track", str(short_clip), "--point", "10,10", "--masks", str(tmp_path / "m"), "--no-progress"]
    proc = run_cli(*base, "--model", "sam2")
    assert proc.returncode == 2 and "--model sam2 needs --model-dir DIR" in proc.stderr, proc.stderr
    proc = run_cli(*base, "--model", str(sam2_model_dir), "--model-dir", str(sam2_model_dir))
    assert proc.returncode == 2 and "give the directory once, as --model-dir" in proc.stderr, proc.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_track_bad_model_dir(sam2_model_dir, short_clip, tmp_path) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    for f in sam2_model_dir.iterdir():
        if f.name != "image_encoder.onnx":
            (broken / f.name).symlink_to(f)
    proc = run_cli(
        "track",
        str(short_clip),
        "--model",
        str(broken),
        "--point",
        "10,10",
        "--masks",
        str(tmp_path / "m"),
        "--no-progress",
    )
    assert proc.returncode == 1
    assert "missing image_encoder.onnx" in proc.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_export_needs_exactly_one_weight_source(tmp_path) -> None:
    proc = run_cli("export-sam2", "--variant", "tiny", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2
    assert "exactly one of --checkpoint" in proc.stderr
