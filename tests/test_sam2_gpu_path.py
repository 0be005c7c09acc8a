"""The GPU code path of the SAM 2 tracker, run on ONNX Runtime's CPU provider.

IO binding (features kept as ONNX Runtime values between the graphs, as on CUDA/TensorRT) must give
exactly what plain ``session.run`` gives; the TensorRT engine cache and fp16 settings must reach the
provider options; an fp16 export must still track (on CPU, where ONNX Runtime supports its ops).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtseg.segment.sam2.interactive import InteractiveSession
from rtseg.segment.sam2.ops import tensor_nbytes
from rtseg.segment.sam2.tracker import Sam2Tracker

pytest.importorskip("sam2")


def _track(model_dir: Path, frames: list[np.ndarray], io_binding: bool) -> list[np.ndarray]:
    with Sam2Tracker(model_dir, intra_op_threads=2, io_binding=io_binding) as tracker:
        assert tracker.io_binding is io_binding
        tracker.add_points(0, obj_id=1, points=[(210, 350)], labels=[1])
        tracker.add_box(0, obj_id=2, box=(300, 100, 600, 400))
        out = []
        for i, rgb in enumerate(frames[:5]):
            if i == 3:
                tracker.add_points(3, obj_id=1, points=[(250, 330)], labels=[0])  # a correction
            r = tracker.track(rgb, i)
            out.append(r.low_res_logits)
        return out


def test_io_binding_gives_exactly_what_session_run_gives(sam2_model_dir: Path,
                                                         bedroom_frames: list[np.ndarray]) -> None:
    plain = _track(sam2_model_dir, bedroom_frames, io_binding=False)
    bound = _track(sam2_model_dir, bedroom_frames, io_binding=True)
    for a, b in zip(plain, bound, strict=True):
        assert a.shape == b.shape
        assert float(np.abs(a - b).max()) == 0.0


def test_io_binding_keeps_the_decoder_features_as_ort_values(sam2_model_dir: Path,
                                                             bedroom_frames: list[np.ndarray]) -> None:
    import onnxruntime as ort

    with Sam2Tracker(sam2_model_dir, io_binding=True) as tracker:
        feats = tracker.encode_image(bedroom_frames[0])
        assert isinstance(feats.feat0, ort.OrtValue) and isinstance(feats.feat1, ort.OrtValue)
        assert isinstance(feats.vision, np.ndarray)  # the memory code reshapes it on the host
        assert tensor_nbytes(feats.feat0) == 4 * int(np.prod(feats.feat0.shape()))
        # The interactive session's feature cache counts device values too, and clicks still work.
        with InteractiveSession(tracker, lambda i: bedroom_frames[i], num_frames=3) as session:
            result = session.add_points(0, 1, [(210, 350)], [1])
            assert result.video_logits.shape[-2:] == bedroom_frames[0].shape[:2]
            assert session.cache.bytes > 0


def test_io_binding_defaults_off_on_the_cpu_provider(sam2_model_dir: Path) -> None:
    with Sam2Tracker(sam2_model_dir) as tracker:
        assert tracker.io_binding is False


def test_an_fp16_export_tracks_like_the_float32_one(sam2_model_dir: Path, bedroom_frames: list[np.ndarray],
                                                     tmp_path: Path) -> None:
    import json

    from rtseg.errors import ConfigError
    from rtseg.segment.sam2.manifest import Sam2Model
    from rtseg.tools.sam2.export import convert_to_fp16

    half = convert_to_fp16(sam2_model_dir, tmp_path / "fp16")
    manifest = json.loads((half / "manifest.json").read_text())
    assert manifest["precision"] == "fp16"
    Sam2Model.from_dir(half, verify=True)  # checksums of the rewritten graphs match
    for name, g in manifest["graphs"].items():
        # stored in half precision: about half the size of the float32 graph
        assert (half / g["file"]).stat().st_size < 0.6 * (sam2_model_dir / g["file"]).stat().st_size, name
    single = _track(sam2_model_dir, bedroom_frames, io_binding=False)
    halved = _track(half, bedroom_frames, io_binding=False)
    for a, b in zip(single, halved, strict=True):
        assert float(np.abs(a - b).mean()) < 0.01  # weights rounded to fp16 (CPU computes through casts)
        assert np.mean((a > 0) == (b > 0)) > 0.995
    with pytest.raises(ConfigError, match="already"):
        convert_to_fp16(half, tmp_path / "again")
