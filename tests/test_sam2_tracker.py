"""The exported model directory and the tracker's own rules (no PyTorch reference needed here,
but the graphs come from the session's export, so the export extra must be installed)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rtseg.errors import ChecksumError, ConfigError, ModelError
from rtseg.segment.sam2.manifest import GRAPH_FILES, Sam2Model
from rtseg.segment.sam2.ops import (
    NO_OBJ_SCORE,
    antialias_bilinear_matrix,
    bilinear_matrix,
    load_frame,
    round_bf16,
)
from rtseg.segment.sam2.tracker import Sam2Tracker
from tests.sam2_conftest import SAM2_DATA


def _link_model(src: Path, dst: Path, skip: str | None = None) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        if f.name != skip:
            (dst / f.name).symlink_to(f)
    return dst


@pytest.mark.slow
def test_manifest_describes_every_file(sam2_model_dir: Path) -> None:
    manifest = json.loads((sam2_model_dir / "manifest.json").read_text())
    assert manifest["variant"] == "tiny" and manifest["image_size"] == 512
    assert manifest["generation"] == "2.1"
    assert manifest["sam2_package_version"] == "1.1.0"
    for name, file in GRAPH_FILES.items():
        entry = manifest["graphs"][name]
        assert entry["file"] == file
        assert entry["sha256"] == hashlib.sha256((sam2_model_dir / file).read_bytes()).hexdigest()
        assert entry["inputs"] and entry["outputs"]
    enc = manifest["graphs"]["image_encoder"]
    assert enc["inputs"] == [{"name": "image", "shape": [1, 3, 512, 512], "dtype": "float32"}]
    assert [o["shape"] for o in enc["outputs"]] == [[1, 256, 32, 32], [1, 32, 128, 128], [1, 64, 64, 64]]
    attn = {i["name"]: i["shape"] for i in manifest["graphs"]["memory_attention"]["inputs"]}
    assert attn["memory"] == ["memory_tokens", 1, 64]
    assert manifest["settings"]["num_maskmem"] == 7
    assert manifest["settings"]["max_obj_ptrs_in_encoder"] == 16
    model = Sam2Model.from_dir(sam2_model_dir)
    assert model.constants["maskmem_tpos_enc"].shape == (7, 1, 1, 64)
    assert model.constants["obj_ptr_tpos_proj_weight"].shape == (64, 256)
    assert model.constants["no_obj_ptr"].shape == (1, 256)


@pytest.mark.slow
def test_random_weights_checkpoint_is_in_the_official_format(sam2_model_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    state = torch.load(sam2_model_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert set(state) == {"model"}
    assert "no_obj_embed_spatial" in state["model"] and "image_encoder.trunk.patch_embed.proj.weight" in state["model"]


@pytest.mark.slow
def test_model_dir_missing_a_graph(sam2_model_dir: Path, tmp_path: Path) -> None:
    broken = _link_model(sam2_model_dir, tmp_path / "m", skip="memory_attention.onnx")
    with pytest.raises(ModelError, match=r"missing memory_attention\.onnx"):
        Sam2Tracker(broken).open()


@pytest.mark.slow
def test_model_dir_with_a_bad_checksum(sam2_model_dir: Path, tmp_path: Path) -> None:
    broken = _link_model(sam2_model_dir, tmp_path / "m", skip="memory_encoder.onnx")
    shutil.copy(sam2_model_dir / "memory_encoder.onnx", broken / "memory_encoder.onnx")
    with open(broken / "memory_encoder.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ChecksumError, match=r"memory_encoder\.onnx"):
        Sam2Tracker(broken).open()


def test_not_a_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no manifest\.json"):
        Sam2Model.from_dir(tmp_path)
    with pytest.raises(ModelError, match="not found"):
        Sam2Model.from_dir(tmp_path / "absent")


@pytest.mark.slow
def test_bad_prompts_are_config_errors(sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    with Sam2Tracker(sam2_model_dir, num_frames=8) as tracker:
        with pytest.raises(ConfigError, match=r"object id must be in 1\.\.255, got 0"):
            tracker.add_points(0, 0, [[10, 10]], [1])
        with pytest.raises(ConfigError, match="frame 8 is outside the video"):
            tracker.add_points(8, 1, [[10, 10]], [1])
        with pytest.raises(ConfigError, match="labels must be 0"):
            tracker.add_points(0, 1, [[10, 10]], [5])
        with pytest.raises(ConfigError, match="box must be"):
            tracker.add_box(0, 1, [50, 50, 10, 10])
        tracker.add_points(0, 1, [[2000, 10]], [1])
        with pytest.raises(ConfigError, match=r"outside the frame \(960x540: expected 0<=x<=960, 0<=y<=540\)"):
            tracker.track(bedroom_frames[0], 0)


@pytest.mark.slow
def test_prompt_on_an_already_tracked_frame(sam2_model_dir: Path, bedroom_frames: list[np.ndarray]) -> None:
    with Sam2Tracker(sam2_model_dir) as tracker:
        tracker.add_points(0, 1, [[210, 350]], [1])
        tracker.track(bedroom_frames[0], 0)
        with pytest.raises(ConfigError, match="frame 0 was already tracked"):
            tracker.add_points(0, 1, [[210, 350]], [1])
        with pytest.raises(ConfigError, match="increasing order"):
            tracker.track(bedroom_frames[0], 0)


@pytest.mark.slow
def test_memory_is_bounded_and_late_objects_start_at_their_prompt(sam2_model_dir: Path) -> None:
    """20 frames, no video length given: the bank stops growing once 16 frames of pointers are held."""
    sizes = []
    with Sam2Tracker(sam2_model_dir, intra_op_threads=2) as tracker:
        tracker.add_points(0, 1, [[210, 350]], [1])
        tracker.add_box(1, 2, [400, 100, 700, 400])
        for i in range(20):
            r = tracker.track(load_frame(SAM2_DATA / f"{i:05d}.jpg"), i)
            sizes.append(tracker.memory_size())
            if i < 1:
                assert r.obj_ids == [1] or np.all(r.low_res_logits[1] == NO_OBJ_SCORE)
            else:
                assert r.obj_ids == [1, 2] and np.all(r.low_res_logits[1] > NO_OBJ_SCORE)
            obj = tracker.state._objects[1]
            assert len(obj.non_cond) <= 16
            assert sum(m.maskmem is not None for m in obj.non_cond.values()) <= 7
        assert r.video_logits.shape == (2, 540, 960)
        assert r.id_map().dtype == np.uint8 and set(np.unique(r.id_map())) <= {0, 1, 2}
    # both objects hold 16 frames of pointers from frame 17 on: the bank stops growing
    assert sizes[-1] == sizes[-2] == sizes[-3]
    assert sizes[-1] > sizes[2]


@pytest.mark.slow
def test_tracker_runs_without_torch(sam2_model_dir: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from rtseg.segment.sam2.ops import load_frame\nfrom rtseg.segment.sam2.tracker import Sam2Tracker\n"
        f"t = Sam2Tracker({str(sam2_model_dir)!r}).open()\n"
        "t.add_points(0, 1, [[210, 350]], [1])\n"
        f"r = t.track(load_frame({str(SAM2_DATA / '00000.jpg')!r}), 0)\n"
        "assert r.masks.shape == (1, 540, 960)\n"
        "assert 'torch' not in sys.modules, 'tracker imported torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_resampling_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = np.random.default_rng(0).standard_normal((1, 1, 37, 53)).astype(np.float32)
    for size, aa in [((128, 96), False), ((540, 960), False), ((16, 20), True), ((40, 60), True)]:
        want = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=False, antialias=aa).numpy()
        make = antialias_bilinear_matrix if aa else bilinear_matrix
        got = make(size[0], 37).astype(np.float32) @ x[0, 0] @ make(size[1], 53).astype(np.float32).T
        assert np.abs(got - want[0, 0]).max() < 1e-5, (size, aa)
    v = torch.randn(1000)
    assert np.array_equal(round_bf16(v.numpy()), v.to(torch.bfloat16).float().numpy())


def test_preprocessing_is_bit_identical_to_sam2s_loader(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("sam2")
    from sam2.utils.misc import _load_img_as_tensor

    from rtseg.segment.sam2.ops import preprocess_image

    mean = torch.tensor((0.485, 0.456, 0.406), dtype=torch.float32)[:, None, None]
    std = torch.tensor((0.229, 0.224, 0.225), dtype=torch.float32)[:, None, None]
    noise = np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.png")  # every byte value in every channel, lossless
    for path, size in ((SAM2_DATA / "00000.jpg", 512), (tmp_path / "noise.png", 1024)):
        img, _, _ = _load_img_as_tensor(str(path), size)
        ref = torch.zeros(3, size, size, dtype=torch.float32)
        ref[:] = img  # float64 -> float32 as load_video_frames_from_jpg_images stores it
        ref -= mean
        ref /= std
        got = preprocess_image(load_frame(path), size)[0]
        assert got.dtype == np.float32
        assert np.array_equal(got.view(np.uint32), ref.numpy().view(np.uint32)), path


@pytest.mark.slow
def test_profile_tracker_times_every_graph(sam2_model_dir: Path, bedroom_dir: Path) -> None:
    from rtseg.tools.sam2.profile import profile_tracker

    p = profile_tracker(sam2_model_dir, bedroom_dir, n_frames=3, threads=2)
    assert p.frames == 3 and len(p.per_frame_ms) == 3
    assert p.provider == "CPUExecutionProvider" and p.image_size == 512
    assert set(p.graphs_ms) == set(GRAPH_FILES)
    # frames 1-2 are tracked from memory: every graph ran, and they account for most of the frame
    assert all(ms > 0 for ms in p.graphs_ms.values())
    assert 0.5 * p.steady_frame_ms < sum(p.graphs_ms.values()) <= p.steady_frame_ms
    with pytest.raises(ConfigError):
        profile_tracker(sam2_model_dir, bedroom_dir, n_frames=1)


def _prompt_and_track(tracker: Sam2Tracker, frames: list[np.ndarray]) -> list[np.ndarray]:
    tracker.add_points(0, 1, [[210, 350]], [1])
    tracker.add_box(1, 2, [400, 100, 700, 400])
    return [tracker.track(frames[i], i).low_res_logits.copy() for i in range(3)]


@pytest.mark.slow
def test_reset_starts_a_new_video_on_the_same_sessions(
    sam2_model_dir: Path, bedroom_frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sam2Tracker(sam2_model_dir, num_frames=8, intra_op_threads=2) as tracker:
        sessions = dict(tracker.model._sessions)
        model = tracker.model._manifest
        first = _prompt_and_track(tracker, bedroom_frames)
        tracker.add_points(3, 1, [[220, 340]], [1])  # queued, never tracked: dropped by reset
        assert tracker.memory_size() > 0
        # reset must neither re-check the graphs nor create sessions
        import rtseg.segment.sam2.manifest as manifest_mod
        import rtseg.segment.sam2.model as model_mod

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("reset() reloaded the model")

        monkeypatch.setattr(manifest_mod, "sha256_file", forbidden)
        monkeypatch.setattr(model_mod, "create_session", forbidden)
        tracker.reset()
        assert tracker.obj_ids == [] and tracker.memory_size() == 0 and tracker.timings == {}
        assert tracker.state._pending == {} and tracker.state.last_frame is None and tracker.state.video_hw is None
        assert tracker.model._manifest is model
        assert tracker.model._sessions.keys() == sessions.keys()
        assert all(tracker.model._sessions[k] is s for k, s in sessions.items())
        # another frame size is accepted: the old video's size is forgotten
        small = np.ascontiguousarray(bedroom_frames[0][:270, :480])
        r = tracker.track(small, 0)
        assert r.obj_ids == [] and r.video_logits.shape == (0, 270, 480)
        tracker.reset()
        second = _prompt_and_track(tracker, bedroom_frames)
        assert all(tracker.model._sessions[k] is s for k, s in sessions.items())
    assert [a.shape[0] for a in first] == [1, 2, 2]  # object 2 is prompted on frame 1
    assert [a.shape for a in first] == [b.shape for b in second]
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.slow
def test_reset_on_an_unopened_or_closed_tracker_is_harmless(
    sam2_model_dir: Path, bedroom_frames: list[np.ndarray], tmp_path: Path
) -> None:
    Sam2Tracker(tmp_path / "absent").reset()  # nothing loaded, nothing checked
    tracker = Sam2Tracker(sam2_model_dir)
    tracker.reset()
    tracker.reset()
    with pytest.raises(RuntimeError, match="not open"):
        tracker.track(bedroom_frames[0], 0)
    with tracker:
        tracker.add_points(0, 1, [[210, 350]], [1])
        assert tracker.track(bedroom_frames[0], 0).obj_ids == [1]
    tracker.reset()  # after close
    with tracker:  # reopening starts a new video (close forgot the last frame)
        tracker.add_points(0, 1, [[210, 350]], [1])
        assert tracker.track(bedroom_frames[0], 0).obj_ids == [1]
