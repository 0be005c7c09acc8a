"""Every job through the real ``rtseg`` command: SAM 2 in the file commands, ``track --config``, and
``rtseg run`` on every shipped preset (real subprocess, real files, the session's SAM 2 export).

SAM 2 here has seeded random weights: its logits hover around 0 (alpha about 0.5), except on a
frame prompted with a mask, where the mask is taken as the output (logits ±10). So the blur checks
are (1) on a mask-prompted frame, crisp: the object is exactly the input and the rest is blurred,
and (2) on point-tracked frames, quantitative: the share of the input's fine detail kept in each
pixel is that pixel's alpha.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from rtseg.jobs.spec import JobSpec, OutputKind
from rtseg.metrics import region_iou
from rtseg.sinks.objects import rle_decode
from tests.conftest import DATA, ROOT, run_cli, visible
from tests.sam2_conftest import SAM2_DATA

pytestmark = pytest.mark.slow  # every test spawns the CLI, most with the session's SAM 2 export

FRAMES = 3
POINT = "210,350"  # on the bed, in the 960x540 bedroom frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    for i in range(FRAMES):
        (folder / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{i:05d}.jpg")
    return folder


@pytest.fixture(scope="module")
def tracked(sam2_model_dir: Path, clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """``rtseg track --point`` id masks: what every other command must agree with on the same prompt."""
    masks = tmp_path_factory.mktemp("tracked") / "masks"
    r = run_cli("track", str(clip), "--model-dir", str(sam2_model_dir), "--point", POINT, "--masks", str(masks),
                "--no-progress")
    assert r.returncode == 0, r.stderr
    return read_id_masks(masks)


def read_id_masks(folder: Path, count: int = FRAMES) -> list[np.ndarray]:
    assert [p.name for p in visible(folder)] == [f"{i:05d}.png" for i in range(count)]
    out = []
    for i in range(count):
        with Image.open(folder / f"{i:05d}.png") as img:
            assert img.mode == "P", "SAM 2 masks are object ids with the DAVIS palette"
            out.append(np.asarray(img).copy())
    return out


def source_bgr(i: int) -> np.ndarray:
    img = cv2.imread(str(SAM2_DATA / f"{i:05d}.jpg"))
    assert img is not None
    return img


def detail(img: np.ndarray) -> np.ndarray:
    """Fine detail: the image minus its blur (what a background blur removes)."""
    f = img.astype(np.float32).mean(axis=-1)
    return f - cv2.GaussianBlur(f, (0, 0), 3)


def test_blur_with_sam2_blurs_all_but_the_tracked_object_and_writes_tracks_masks(
        sam2_model_dir: Path, clip: Path, tracked: list[np.ndarray], tmp_path: Path) -> None:
    out, masks, logits, stats = tmp_path / "blur", tmp_path / "masks", tmp_path / "logits", tmp_path / "s.json"
    r = run_cli("blur", str(clip), "--model", "sam2", "--model-dir", str(sam2_model_dir), "--point", POINT,
                "-o", str(out), "--masks", str(masks), "--logits", str(logits), "--stats-json", str(stats),
                "--no-progress")
    assert r.returncode == 0, r.stderr
    for got, want in zip(read_id_masks(masks), tracked, strict=True):
        assert np.array_equal(got, want), "blur's masks must be track's masks on the same prompt"
    assert json.loads(stats.read_text())["model"] == "sam2"
    for i in range(FRAMES):
        top = np.load(logits / f"{i:05d}.npy").max(axis=0)
        assert np.array_equal(top > 0, tracked[i] > 0)
        alpha = np.clip(top * 0.5 + 0.5, 0, 1)
        src, dst = detail(source_bgr(i)), detail(cv2.imread(str(out / f"{i:05d}.png")))
        # Pixels binned by alpha (lowest tenth, ..., highest tenth): the share of the input's detail kept
        # (least squares dst ≈ k·src) is the bin's alpha; a composite ignoring this alpha keeps a flat share.
        kept, means = [], []
        for sel in alpha_bins(alpha):
            kept.append(float((dst[sel] * src[sel]).sum() / (src[sel] ** 2).sum()))
            means.append(float(alpha[sel].mean()))
        assert means[-1] - means[0] > 0.06, "alpha must vary, or the check proves nothing"
        assert np.allclose(kept, means, atol=0.02), (i, kept, means)
        assert kept == sorted(kept) and kept[-1] - kept[0] > 0.5 * (means[-1] - means[0]), (i, kept, means)


def test_blur_with_a_sam2_mask_prompt_keeps_the_object_exactly(
        sam2_model_dir: Path, clip: Path, tmp_path: Path) -> None:
    yy, xx = np.mgrid[:540, :960]
    ellipse = ((xx - 480) / 200.0) ** 2 + ((yy - 270) / 130.0) ** 2 <= 1.0
    prompt = tmp_path / "object.png"
    Image.fromarray(ellipse.astype(np.uint8) * 255).save(prompt)
    out, masks = tmp_path / "blur", tmp_path / "masks"
    r = run_cli("blur", str(clip), "--model", "sam2", "--model-dir", str(sam2_model_dir), "--mask", str(prompt),
                "-o", str(out), "--masks", str(masks), "--no-progress")
    assert r.returncode == 0, r.stderr
    ids = read_id_masks(masks)[0]
    assert region_iou(ids == 1, ellipse) > 0.98
    src, dst = source_bgr(0), cv2.imread(str(out / "00000.png"))
    kernel = np.ones((9, 9), np.uint8)
    inside = cv2.erode(ellipse.astype(np.uint8), kernel) > 0
    outside = cv2.erode((~ellipse).astype(np.uint8), kernel) > 0
    assert np.array_equal(dst[inside], src[inside]), "the object is the input, untouched"
    assert np.abs(dst[outside].astype(int) - src[outside]).mean() > 4
    sharp = np.abs(detail(src))[outside].mean()
    assert np.abs(detail(dst))[outside].mean() < 0.3 * sharp, "everything else is blurred"


def test_segment_with_sam2_writes_tracks_masks_and_rle(
        sam2_model_dir: Path, clip: Path, tracked: list[np.ndarray], tmp_path: Path) -> None:
    masks, rle = tmp_path / "masks", tmp_path / "m.json"
    r = run_cli("segment", str(clip), "--model", "sam2", "--model-dir", str(sam2_model_dir), "--point", POINT,
                "--masks", str(masks), "--rle", str(rle), "--no-progress")
    assert r.returncode == 0, r.stderr
    for got, want in zip(read_id_masks(masks), tracked, strict=True):
        assert np.array_equal(got, want)
    frames = json.loads(rle.read_text())["frames"]
    assert [f["frame"] for f in frames] == list(range(FRAMES))
    for f, want in zip(frames, tracked, strict=True):
        assert np.array_equal(rle_decode(f["objects"]["1"]), want == 1)


def test_cutout_with_sam2_has_the_tracked_object_as_alpha(
        sam2_model_dir: Path, clip: Path, tracked: list[np.ndarray], tmp_path: Path) -> None:
    out = tmp_path / "cut"
    r = run_cli("cutout", str(clip), "--model", "sam2", "--model-dir", str(sam2_model_dir), "--point", POINT,
                "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    for i in range(FRAMES):
        rgba = cv2.imread(str(out / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        assert rgba.shape == (540, 960, 4)
        a, obj = rgba[..., 3], tracked[i] > 0
        # alpha is 0.5 + logit / 2: above 128 inside the object, below 127 outside (127..128: logit ~0)
        assert obj[a > 128].all() and not obj[a < 127].any()
        assert (a > 128).sum() > 100_000 and (a < 127).sum() > 10_000


def alpha_bins(alpha: np.ndarray) -> list[np.ndarray]:
    """Pixels by alpha: lowest tenth, to the median, to the highest tenth, highest tenth."""
    edges = np.quantile(alpha, [0, 0.1, 0.5, 0.9, 1.0])
    return [(alpha >= lo) & (alpha <= hi) for lo, hi in itertools.pairwise(edges)]


def test_overlay_with_sam2_tints_by_the_tracked_objects_alpha(
        sam2_model_dir: Path, clip: Path, tracked: list[np.ndarray], tmp_path: Path) -> None:
    out, logits = tmp_path / "ov", tmp_path / "logits"
    r = run_cli("overlay", str(clip), "--model", "sam2", "--model-dir", str(sam2_model_dir), "--point", POINT,
                "-o", str(out), "--logits", str(logits), "--colour", "#ff0000", "--no-progress")
    assert r.returncode == 0, r.stderr
    for i in range(FRAMES):
        top = np.load(logits / f"{i:05d}.npy").max(axis=0)
        assert np.array_equal(top > 0, tracked[i] > 0)
        alpha = np.clip(top * 0.5 + 0.5, 0, 1)
        src = cv2.cvtColor(source_bgr(i), cv2.COLOR_BGR2RGB).astype(np.float32)
        dst = cv2.cvtColor(cv2.imread(str(out / f"{i:05d}.png")), cv2.COLOR_BGR2RGB).astype(np.float32)
        toward, step = np.float32([255, 0, 0]) - src, dst - src  # the tint moves a pixel toward red by 0.5·alpha
        weights, means = [], []
        for sel in alpha_bins(alpha):
            weights.append(float((step[sel] * toward[sel]).sum() / (toward[sel] ** 2).sum()))
            means.append(float(alpha[sel].mean()))
        assert means[-1] - means[0] > 0.06
        assert np.allclose(weights, 0.5 * np.array(means), atol=0.005), (i, weights, means)


def test_track_runs_from_a_config_file_with_stats_json(
        sam2_model_dir: Path, clip: Path, tracked: list[np.ndarray], tmp_path: Path) -> None:
    """``rtseg track --config FILE``: paths relative to the file, no model name needed (track is SAM 2's)."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (tmp_path / "model").symlink_to(sam2_model_dir, target_is_directory=True)
    (tmp_path / "frames").symlink_to(clip, target_is_directory=True)
    cfg = jobs / "track.toml"
    cfg.write_text('[source]\npath = "../frames"\n[model]\ndir = "../model"\n'
                   f'[[model.prompts]]\npoints = [[{POINT}]]\n'
                   '[[outputs]]\nkind = "masks"\npath = "masks"\n[run]\nprogress = false\n')
    stats = tmp_path / "stats.json"
    r = run_cli("track", "--config", str(cfg), "--stats-json", str(stats))
    assert r.returncode == 0, r.stderr
    for got, want in zip(read_id_masks(jobs / "masks"), tracked, strict=True):
        assert np.array_equal(got, want)
    doc = json.loads(stats.read_text())
    assert doc["command"] == "track" and doc["model"] == "sam2"
    assert doc["frames_in"] == doc["frames_out"] == FRAMES and doc["dropped"] == 0
    # the command line adds to the config: a second output and an old spelling (--device)
    rle = tmp_path / "m.json"
    r = run_cli("track", "--config", str(cfg), "--rle", str(rle), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(rle.read_text())["frames"]) == FRAMES


# -- rtseg run: every preset in configs/ ---------------------------------------------------------------

PRESETS = sorted(p.name for p in (ROOT / "configs").glob("*.toml"))
SAMPLE_FRAMES = 96  # the bundled clip: 640x360, 96 frames at 24 fps
SHORT_FRAMES = 4


@pytest.fixture(scope="module")
def preset_tree(tmp_path_factory: pytest.TempPathFactory, sam2_model_dir: Path) -> Path:
    """configs/ copied beside a ``sam2-tiny-512`` link to the session's export (where the SAM 2 presets
    look), with a 4-frame image folder of the sample clip for the SAM 2 file presets."""
    root = tmp_path_factory.mktemp("presets")
    shutil.copytree(ROOT / "configs", root / "configs")
    (root / "sam2-tiny-512").symlink_to(sam2_model_dir, target_is_directory=True)
    short = root / "sample-short"
    short.mkdir()
    with av.open(str(ROOT / "rtseg" / "sources" / "media" / "sample.mp4")) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == SHORT_FRAMES:
                break
            cv2.imwrite(str(short / f"{i:05d}.png"), frame.to_ndarray(format="bgr24"))
    return root


def quick_preset(path: Path) -> None:
    """Rewrite a copied preset so it runs here and quickly, keeping its job: a camera becomes the sample
    replayed in real time, a virtual camera a null output, live runs last 2 s, SAM 2 file jobs read
    4 frames, and the relative path out of the repository points at the test media."""
    text = path.read_text()
    spec = JobSpec.from_toml(path)
    text = text.replace('"../../shared/data/', f'"{DATA}/')
    text = re.sub(r"(?m)^camera = .*$", 'path = "sample"\nrealtime = true', text)
    text = re.sub(r'(?m)^kind = "vcam".*$', 'kind = "null"', text)
    if spec.live:
        text, n = re.subn(r"(?m)^duration = .*$", "duration = 2", text)
        if n == 0:
            text, n = re.subn(r"(?m)^\[run\]$", "[run]\nduration = 2", text)
        if n == 0:
            text += "\n[run]\nduration = 2\n"
    if spec.model.name == "sam2" and not spec.live:
        text, n = re.subn(r'(?m)^path = "sample"', 'path = "../sample-short"', text)
        assert n == 1
    path.write_text(text)


def check_output(kind: OutputKind, path: Path, frames: int, size: tuple[int, int]) -> None:
    w, h = size
    if kind is OutputKind.VIDEO:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == size
            assert sum(1 for _ in c.decode(stream)) == frames
    elif kind in (OutputKind.MASKS, OutputKind.IMAGES):
        names = [p.name for p in visible(path)]
        assert names == [f"{i:05d}.png" for i in range(frames)], "one PNG per frame, named like the input"
        first = cv2.imread(str(path / names[0]), cv2.IMREAD_UNCHANGED)
        assert first is not None and first.shape[:2] == (h, w)
    elif kind is OutputKind.RLE:
        doc = json.loads(path.read_text())
        assert [f["frame"] for f in doc["frames"]] == list(range(frames))
        assert all(rle_decode(o).shape == (h, w) for f in doc["frames"] for o in f["objects"].values())
    elif kind is OutputKind.LOGITS:
        assert len(list(path.glob("*.npy"))) == frames
    else:
        assert kind in (OutputKind.NULL, OutputKind.VCAM, OutputKind.PREVIEW), kind


@pytest.mark.parametrize("name", PRESETS)
def test_rtseg_run_runs_every_preset(preset_tree: Path, name: str) -> None:
    path = preset_tree / "configs" / name
    quick_preset(path)
    spec = JobSpec.from_toml(path)
    stats = preset_tree / f"{name}.stats.json"
    r = run_cli("run", str(path), "--no-progress", "--stats-json", str(stats))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(stats.read_text())
    assert doc["command"] == spec.command.value and doc["model"] == spec.model.name
    if spec.live:
        assert doc["frames_out"] > 0 and "live" in doc
        return
    frames = SHORT_FRAMES if spec.model.name == "sam2" else SAMPLE_FRAMES
    assert doc["frames_in"] == doc["frames_out"] == frames and doc["dropped"] == 0
    assert spec.outputs
    for out in spec.outputs:
        assert out.path is not None
        check_output(out.kind, Path(out.path), frames, (640, 360))
