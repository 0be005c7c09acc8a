"""The public Python API: the same jobs as the CLI, per-frame segmentation and SAM 2 tracking."""

from __future__ import annotations

import pydoc
import threading
from pathlib import Path

import av
import numpy as np
import pytest

import rtseg
from tests.conftest import run_cli, visible


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_help_shows_the_api() -> None:
    text = pydoc.render_doc(rtseg, renderer=pydoc.plaintext)
    for name in ("blur", "segment_video", "open_segmenter", "track", "run", "JobSpec", "Pipeline", "build"):
        assert name in text


@pytest.mark.slow
def test_blur_writes_the_same_video_as_the_cli(tmp_path: Path) -> None:
    stats = rtseg.blur("sample", tmp_path / "api.mp4", strength=30)
    cli = run_cli("blur", "sample", "-o", str(tmp_path / "cli.mp4"), "--strength", "30", "--no-progress")
    assert cli.returncode == 0, cli.stderr
    assert stats.frames_out == 96
    ours, theirs = decode(tmp_path / "api.mp4"), decode(tmp_path / "cli.mp4")
    assert len(ours) == len(theirs) == 96
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs, strict=True))


def test_segment_video_yields_every_frame_with_the_production_mask() -> None:
    results = list(rtseg.segment_video("sample", options={"mask": {"roi": True}}))
    assert [r.index for r in results] == list(range(96))
    r = results[40]
    assert r.image.shape == (360, 640, 3) and r.alpha.shape == (360, 640) and r.alpha.dtype == np.float32
    # the juggler is found: a person-sized region is foreground, most of the frame is not
    assert 0.03 < float((r.alpha > 0.5).mean()) < 0.5


def test_open_segmenter_gives_the_same_alpha_as_the_video_path() -> None:
    """Per-frame use runs the same mask path (ROI pass, smoothing, ramp) as segment_video and the CLI."""
    video = [r for _, r in zip(range(12), rtseg.segment_video("sample"), strict=False)]
    with rtseg.open_segmenter("selfie") as seg:
        alphas = [seg(r.image) for r in video]
    for r, alpha in zip(video, alphas, strict=True):
        np.testing.assert_allclose(alpha, r.alpha, atol=1e-6)


def test_open_segmenter_rejects_what_is_not_an_rgb_frame() -> None:
    with rtseg.open_segmenter("selfie", options={"roi": False}) as seg, pytest.raises(rtseg.ConfigError,
                                                                                       match="RGB uint8"):
        seg(np.zeros((10, 10), np.uint8))


def test_leaving_segment_video_early_leaves_no_thread_running() -> None:
    for r in rtseg.segment_video("sample"):
        if r.index == 2:
            break
    assert rtseg_threads() == []


@pytest.mark.slow
def test_track_gives_per_object_masks_equal_to_the_cli(tmp_path: Path, sam2_model_dir: Path,
                                                        bedroom_dir: Path) -> None:
    frames = list(rtseg.track(bedroom_dir, sam2_model_dir, points={1: [(210, 350)]}, boxes={2: (400, 100, 700, 400)}))
    cli = run_cli("track", str(bedroom_dir), "--model-dir", str(sam2_model_dir), "--prompts",
                  str(_prompts(tmp_path)), "--masks", str(tmp_path / "m"), "--no-progress")
    assert cli.returncode == 0, cli.stderr
    from PIL import Image

    assert len(frames) == len(visible(tmp_path / "m")) == 8
    for f in frames:
        assert set(f.masks) == {1, 2} and f.masks[1].shape == (540, 960)
        png = np.asarray(Image.open(tmp_path / "m" / f"{f.index:05d}.png"))
        assert np.array_equal(f.id_map(), png)


def _prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.json"
    path.write_text('[{"frame": 0, "object": 1, "points": [[210, 350]]}, '
                    '{"frame": 0, "object": 2, "box": [400, 100, 700, 400]}]')
    return path


def test_run_takes_a_spec(tmp_path: Path) -> None:
    spec = rtseg.JobSpec.from_dict({"command": "segment", "input": "synthetic:64x48@5",
                                    "masks": str(tmp_path / "m")})
    assert rtseg.run(spec).frames_out == 5
    assert [p.name for p in visible(tmp_path / "m")] == [f"{i:05d}.png" for i in range(5)]


def rtseg_threads() -> list[str]:
    """Threads the rtseg runtime started that are still running."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("rtseg-"))
