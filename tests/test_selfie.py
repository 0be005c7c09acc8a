"""The MediaPipe selfie segmenter: bundled models verified, variant choice, quality on DAVIS."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from rtseg.errors import ChecksumError, ModelError
from rtseg.frame import Frame
from rtseg.metrics import region_iou
from rtseg.segment import ModelOptions, SegmentStage, SelfieSegmenter, SelfieVariant, create_segmenter
from rtseg.segment.models import SHA256, bundled_model, sha256_file
from rtseg.sources import ImageFolderSource
from tests.conftest import DAVIS, require


def test_bundled_models_match_their_recorded_sha256() -> None:
    for name, digest in SHA256.items():
        path = bundled_model(name)
        assert sha256_file(path) == digest
        assert path.stat().st_size > 200_000
    notice = (bundled_model("selfie_segmentation.tflite").parent / "NOTICE.md").read_text()
    assert "Apache License 2.0" in notice


def test_a_model_file_with_the_wrong_checksum_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "selfie.tflite"
    shutil.copy(bundled_model("selfie_segmentation.tflite"), bad)
    with bad.open("r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    seg = SelfieSegmenter("square", model_path=bad, model_sha256=SHA256["selfie_segmentation.tflite"])
    with pytest.raises(ChecksumError, match="sha256"):
        seg.open()


def test_a_missing_model_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        SelfieSegmenter("square", model_path=tmp_path / "missing.tflite").open()


def test_auto_picks_landscape_for_wide_frames_and_square_otherwise() -> None:
    img_wide = np.zeros((720, 1280, 3), np.uint8)
    img_43 = np.zeros((480, 640, 3), np.uint8)
    with SelfieSegmenter() as seg:
        assert seg.infer(img_wide).shape == (144, 256)
        assert seg.active_variant is SelfieVariant.LANDSCAPE
        result = seg.segment(Frame(img_wide, 7))  # the Segmenter protocol: frame in, MaskResult out
        assert result.index == 7 and result.alpha.shape == (144, 256) and result.alpha.dtype == np.float32
    with SelfieSegmenter() as seg:
        assert seg.infer(img_43).shape == (256, 256)
    with SelfieSegmenter("square") as seg:
        assert seg.infer(img_wide).shape == (256, 256)


def test_segment_stage_upsamples_alpha_to_the_frame_once() -> None:
    src = ImageFolderSource(require(DAVIS / "lucia" / "JPEGImages"))
    info = src.open()
    frame = src.read()
    src.close()
    assert frame is not None
    seg = create_segmenter("selfie-square", ModelOptions(roi=False))
    assert isinstance(seg, SelfieSegmenter)
    stage = SegmentStage(seg)
    stage.open(info)
    try:
        out = stage.process(frame)
    finally:
        stage.close()
    assert stage.results == 1
    assert out.alpha is not None and out.alpha.shape == (480, 854) and out.alpha.dtype == np.float32
    assert out.alpha.min() >= 0.0 and out.alpha.max() <= 1.0
    gt = cv2.imread(str(DAVIS / "lucia" / "Annotations" / "00000.png"), cv2.IMREAD_GRAYSCALE) > 127
    assert region_iou(out.alpha > 0.5, gt) > 0.6


def test_unknown_model_name_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown model 'selfy'"):
        create_segmenter("selfy")
