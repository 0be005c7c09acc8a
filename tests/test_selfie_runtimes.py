"""The selfie model runs on LiteRT (default) or MediaPipe Tasks: the same masks, either way."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rtseg.jobs import JobSpec, build
from rtseg.segment import SelfieSegmenter
from rtseg.segment.selfie import SelfieRuntime
from tests.conftest import DAVIS, JUGGLE, require


def _frames() -> list[np.ndarray]:
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
              for p in sorted(require(DAVIS / "lucia" / "JPEGImages").glob("*.jpg"))[:6]]
    cap = cv2.VideoCapture(str(require(JUGGLE)))
    for _ in range(4):
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.mark.parametrize("variant", ["square", "landscape"])
def test_litert_and_mediapipe_give_the_same_mask(variant: str) -> None:
    frames = _frames()
    with SelfieSegmenter(variant, runtime="litert") as lite, SelfieSegmenter(variant, runtime="mediapipe") as mp:
        assert lite.runtime is SelfieRuntime.LITERT and mp.runtime is SelfieRuntime.MEDIAPIPE
        for image in frames:
            a, b = lite.infer(image), mp.infer(image)
            assert a.shape == b.shape and a.dtype == b.dtype == np.float32
            assert float(np.abs(a - b).max()) < 1e-4
            assert 0.01 < float((a > 0.5).mean()) < 0.95  # a person was found: not an empty or full mask


def test_auto_uses_litert_when_installed() -> None:
    assert SelfieSegmenter().runtime is SelfieRuntime.LITERT


def test_a_job_can_choose_the_runtime_and_both_write_the_same_masks(tmp_path: Path) -> None:
    src = require(DAVIS / "lucia" / "JPEGImages")
    outs = {}
    for runtime in ("litert", "mediapipe"):
        out = tmp_path / runtime
        spec = JobSpec.from_dict({"command": "segment", "source": {"path": str(src)},
                                  "model": {"name": "selfie", "runtime": runtime},
                                  "outputs": [{"kind": "masks", "path": str(out)}],
                                  "run": {"progress": False, "duration": 0.4}}).check()
        build(spec).run()
        outs[runtime] = sorted(out.glob("*.png"))
    assert len(outs["litert"]) == len(outs["mediapipe"]) > 5
    for a, b in zip(outs["litert"], outs["mediapipe"], strict=True):
        ma, mb = cv2.imread(str(a), cv2.IMREAD_GRAYSCALE), cv2.imread(str(b), cv2.IMREAD_GRAYSCALE)
        assert int(np.abs(ma.astype(int) - mb).max()) <= 1  # 8-bit masks: at most one level apart


def test_an_unknown_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="litert"):
        JobSpec.from_dict({"command": "segment", "source": {"path": "x.mp4"}, "model": {"runtime": "tflite"}})
