"""A photo is a one-frame input, and ``NAME.png`` is a one-image output (what a batch of photos writes)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import rtseg
from tests.conftest import DATA, require, visible

PORTRAIT = DATA / "webcam" / "portraits"


@pytest.fixture(scope="module")
def photo() -> Path:
    return sorted(require(PORTRAIT).glob("*.jpg"))[0]


def test_a_photo_cut_out_is_one_rgba_png_of_its_size(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "cut.png"
    rtseg.cutout(photo, out)
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (*cv2.imread(str(photo)).shape[:2], 4)
    alpha = rgba[..., 3]
    assert (alpha == 255).mean() > 0.1 and (alpha == 0).mean() > 0.1  # a person and a background
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.png"]  # nothing else left beside it


def test_a_photos_mask_as_one_file_equals_the_mask_folders_only_image(photo: Path, tmp_path: Path) -> None:
    for masks in ("m.png", "m"):
        spec = rtseg.JobSpec.from_dict({"command": "segment", "input": str(photo), "masks": str(tmp_path / masks),
                                        "run": {"progress": False}}).check()
        rtseg.build(spec).run()
    [single] = visible(tmp_path / "m")
    assert single.name == photo.with_suffix(".png").name
    assert np.array_equal(cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED),
                          cv2.imread(str(single), cv2.IMREAD_UNCHANGED))


def test_a_one_image_output_refuses_a_video_before_writing(tmp_path: Path) -> None:
    with pytest.raises(rtseg.ConfigError, match=r"out\.png is one image, but the input has 5 frames"):
        rtseg.blur("synthetic:64x48@5", tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []
