"""The ``rtseg`` command end to end on real media: outputs, timing, audio, masks, and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from rtseg.metrics import region_iou
from tests.conftest import DATA, DAVIS, ROOT, read_mask, require, run_cli, visible


def video_info(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return {"codec": v.codec_context.name, "w": v.codec_context.width, "h": v.codec_context.height,
                "frames": sum(1 for _ in c.decode(v)), "rate": v.average_rate,
                "duration": float(v.duration * v.time_base) if v.duration else None,
                "audio": [(a.codec_context.name, a.frames) for a in c.streams.audio]}


def decode_rgb(path: Path, indices: set[int]) -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in indices:
                out[i] = f.to_ndarray(format="rgb24")
    return out


def sharpness(img: np.ndarray, region: np.ndarray) -> float:
    lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
    return float(np.abs(lap[region]).mean())


@pytest.fixture(scope="module")
def blurred(tmp_path_factory: pytest.TempPathFactory, juggle: Path) -> tuple[Path, Path, Path, dict]:
    d = tmp_path_factory.mktemp("blur")
    out, masks, stats = d / "juggle.mp4", d / "masks", d / "stats.json"
    r = run_cli("blur", str(juggle), "-o", str(out), "--masks", str(masks), "--stats-json", str(stats))
    assert r.returncode == 0, r.stderr
    return out, masks, stats, json.loads(stats.read_text())


@pytest.mark.slow
def test_blur_output_has_every_frame_at_the_input_size_rate_and_duration(blurred, juggle: Path) -> None:  # type: ignore[no-untyped-def]
    out, _, _, _ = blurred
    got, want = video_info(out), video_info(juggle)
    assert got["codec"] == "h264" and (got["w"], got["h"]) == (1280, 720)
    assert got["frames"] == want["frames"] == 247
    assert got["rate"] == want["rate"] == 24
    assert got["duration"] == pytest.approx(want["duration"], abs=1 / 24)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


@pytest.mark.slow
def test_blur_keeps_the_person_sharp_and_blurs_the_background(blurred, juggle: Path) -> None:  # type: ignore[no-untyped-def]
    out, masks, _, _ = blurred
    idx = {0, 120, 246}
    src, dst = decode_rgb(juggle, idx), decode_rgb(out, idx)
    for i in idx:
        alpha = read_mask(masks / f"{i:05d}.png").astype(np.float32) / 255
        person = cv2.erode((alpha > 0.98).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        background = cv2.erode((alpha < 0.02).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert person.sum() > 5000 and background.sum() > 100_000
        diff = np.abs(src[i].astype(np.int16) - dst[i].astype(np.int16))
        assert diff[person].mean() < 4.0, "person pixels must stay as in the input (up to H.264 loss)"
        assert diff[background].mean() > 4.0
        assert sharpness(dst[i], background) < 0.5 * sharpness(src[i], background)


@pytest.mark.slow
def test_stats_json_has_the_documented_keys(blurred) -> None:  # type: ignore[no-untyped-def]
    _, _, _, stats = blurred
    assert stats["frames_in"] == stats["frames_out"] == 247 and stats["dropped"] == 0
    assert set(stats["latency_ms"]) == {"p50", "p95", "p99", "max"}
    # every sink is a stage of its own now (the video encoder and the mask writer)
    assert {"source", "segment", "composite", "encode", "masks"} <= set(stats["stages"])
    for stage in stats["stages"].values():
        assert {"p50_ms", "p95_ms", "p99_ms"} <= set(stage)
    assert stats["fps"] > 0 and stats["cpu_percent"] > 0 and stats["max_rss_mb"] > 50
    assert stats["command"] == "blur" and stats["model"] == "selfie" and stats["input"].endswith("juggle.mp4")


@pytest.mark.slow
def test_audio_is_copied_into_the_output(tmp_path: Path, dog: Path) -> None:
    out = tmp_path / "dog.mp4"
    r = run_cli("blur", str(dog), "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    got, want = video_info(out), video_info(dog)
    assert got["audio"] == want["audio"] == [("aac", 454)]
    assert got["frames"] == want["frames"] == 289


@pytest.mark.parametrize("seq, raw_iou", [("lucia", 0.825), ("dance-twirl", 0.645)])
@pytest.mark.slow
def test_segment_masks_are_named_like_the_input_and_at_least_as_good_as_the_raw_model(
        tmp_path: Path, seq: str, raw_iou: float) -> None:
    images = require(DAVIS / seq / "JPEGImages")
    masks = tmp_path / "masks"
    r = run_cli("segment", str(images), "--masks", str(masks), "--no-progress")
    assert r.returncode == 0, r.stderr
    names = [p.name for p in visible(masks)]
    assert names == sorted(p.with_suffix(".png").name for p in images.glob("*.jpg"))
    ious = []
    for name in names:
        m = read_mask(masks / name)
        assert m.dtype == np.uint8 and m.ndim == 2
        gt = read_mask(DAVIS / seq / "Annotations" / name) > 127
        ious.append(region_iou(m > 127, gt))
    assert float(np.mean(ious)) >= raw_iou


@pytest.mark.slow
def test_cutout_to_webm_keeps_alpha(tmp_path: Path) -> None:
    images = require(DAVIS / "lucia" / "JPEGImages")
    out = tmp_path / "cut.webm"
    r = run_cli("cutout", str(images), "-o", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        ctx = av.CodecContext.create("libvpx-vp9", "r")  # FFmpeg's native VP9 decoder drops alpha
        ctx.extradata = stream.codec_context.extradata
        frames = []
        for packet in c.demux(stream):
            for f in ctx.decode(packet):
                frames.append(f.to_ndarray(format="rgba"))
    assert len(frames) == 70
    a = frames[0][..., 3]
    gt = read_mask(DAVIS / "lucia" / "Annotations" / "00000.png") > 127
    assert region_iou(a > 127, gt) > 0.7


@pytest.mark.slow
def test_cutout_to_prores_mov_and_to_png_folder(tmp_path: Path) -> None:
    images = require(DAVIS / "lucia" / "JPEGImages")
    mov, folder = tmp_path / "cut.mov", tmp_path / "cut"
    assert run_cli("cutout", str(images), "-o", str(mov), "--no-progress").returncode == 0
    with av.open(str(mov)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "prores" and "yuva444" in s.codec_context.pix_fmt
        first = next(c.decode(s)).to_ndarray(format="rgba")
    assert first[..., 3].min() < 10 and first[..., 3].max() > 245
    r = run_cli("cutout", str(images), "-o", str(folder), "--no-progress")
    assert r.returncode == 0, r.stderr
    png = cv2.imread(str(folder / "00000.png"), cv2.IMREAD_UNCHANGED)
    assert png.shape == (480, 854, 4)
    assert region_iou(png[..., 3] > 127, read_mask(DAVIS / "lucia" / "Annotations" / "00000.png") > 127) > 0.7


@pytest.mark.slow
def test_cutout_refuses_an_output_without_alpha(tmp_path: Path) -> None:
    r = run_cli("cutout", "synthetic:64x48@2", "-o", str(tmp_path / "cut.mp4"))
    assert r.returncode != 0 and "alpha-capable" in r.stderr


@pytest.mark.parametrize("background", ["#00ff00", "portrait", "video"])
@pytest.mark.slow
def test_replace_background(tmp_path: Path, background: str) -> None:
    images = require(DAVIS / "lucia" / "JPEGImages")
    if background == "portrait":
        background = str(sorted((DATA / "webcam" / "portraits").glob("*.jpg"))[0])
    elif background == "video":
        background = str(require(DATA / "webcam" / "thoughtful-640x360.mp4"))
    out = tmp_path / "rep.mp4"
    r = run_cli("replace", str(images), "--background", background, "-o", str(out), "--masks",
                str(tmp_path / "m"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert video_info(out)["frames"] == 70
    if background == "#00ff00":
        frame = decode_rgb(out, {10})[10]
        alpha = read_mask(tmp_path / "m" / "00010.png")
        bg = cv2.erode((alpha < 3).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert np.abs(frame[bg].astype(int) - [0, 255, 0]).mean() < 6


@pytest.mark.slow
def test_run_a_config_preset_and_config_files_reject_unknown_keys(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    cfg = tmp_path / "job.toml"
    cfg.write_text(f'command = "blur"\ninput = "synthetic:320x180@12"\noutput = "{out}"\n'
                   '[effect]\nstrength = 9\n[run]\nprogress = false\n')
    r = run_cli("run", str(cfg))
    assert r.returncode == 0, r.stderr
    assert video_info(out)["frames"] == 12
    cfg.write_text('command = "blur"\ninput = "synthetic"\noutput = "x.mp4"\n[effect]\nstrenght = 9\n')
    r = run_cli("run", str(cfg))
    assert r.returncode == 2 and "unknown key 'effect.strenght'" in r.stderr


def test_shipped_presets_are_valid() -> None:
    from rtseg.jobs.spec import JobKind, JobSpec

    presets = sorted((ROOT / "configs").glob("*.toml"))
    assert presets
    kinds = {JobSpec.from_toml(preset).command for preset in presets}  # validates and checks each job
    assert kinds == set(JobKind), "one preset of every job kind"


@pytest.mark.slow
def test_file_command_with_a_config_file_and_command_line_overrides(tmp_path: Path) -> None:
    """``--config`` (old key layout too) under the command line: the option wins, the file fills the rest."""
    cfg = tmp_path / "job.toml"
    cfg.write_text('command = "blur"\ninput = "synthetic:96x64@5"\noutput = "from-config.mp4"\n'
                   '[effect]\nstrength = 9\n[run]\nprogress = false\n')
    out, stats = tmp_path / "cli.mp4", tmp_path / "s.json"
    r = run_cli("blur", "--config", str(cfg), "-o", str(out), "--stats-json", str(stats))
    assert r.returncode == 0, r.stderr
    assert video_info(out)["frames"] == 5 and (video_info(out)["w"], video_info(out)["h"]) == (96, 64)
    assert not (tmp_path / "from-config.mp4").exists(), "-o replaces the config's output"
    assert json.loads(stats.read_text())["frames_out"] == 5
    r = run_cli("blur", "synthetic:64x48@3", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert video_info(tmp_path / "from-config.mp4")["frames"] == 3, "output path relative to the config file"
    r = run_cli("replace", "--config", str(cfg), "-o", str(out))
    assert r.returncode == 2 and "is a 'blur' config, not 'replace'" in r.stderr


@pytest.mark.slow
def test_version_and_devices() -> None:
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("rtseg ")
    r = run_cli("devices")
    assert r.returncode == 0
    assert "CPUExecutionProvider" in r.stdout and "mediapipe" in r.stdout and "virtual camera" in r.stdout


# -- bad input: one readable line, exit code != 0, no output left behind -----------------------------

def _assert_clean_failure(r, out: Path, message: str) -> None:  # type: ignore[no-untyped-def]
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()
    assert not list(out.parent.glob(".*rtseg-partial*")), "no partial file may be left behind"


@pytest.mark.slow
def test_missing_input(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    _assert_clean_failure(run_cli("blur", str(tmp_path / "nope.mp4"), "-o", str(out)), out, "input not found")


@pytest.mark.slow
def test_not_media(tmp_path: Path) -> None:
    out, bad = tmp_path / "o.mp4", tmp_path / "bad.mp4"
    bad.write_text("hello\n" * 1000)
    _assert_clean_failure(run_cli("blur", str(bad), "-o", str(out)), out, "not a readable video")


@pytest.mark.slow
def test_truncated_video(tmp_path: Path, juggle: Path) -> None:
    out, cut = tmp_path / "o.mp4", tmp_path / "cut.mp4"
    data = juggle.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    r = run_cli("blur", str(cut), "-o", str(out))
    assert r.returncode != 0 and ("truncated" in r.stderr or "not a readable" in r.stderr)
    _assert_clean_failure(r, out, "error:")


@pytest.mark.slow
def test_failure_mid_run_leaves_no_half_written_file(tmp_path: Path, juggle: Path) -> None:
    # A video whose moov is up front and whose data is cut: frames decode, then the data runs out.
    faststart = tmp_path / "fs.mp4"
    with av.open(str(juggle)) as src, av.open(str(faststart), "w", options={"movflags": "faststart"}) as dst:
        s_in = src.streams.video[0]
        s_out = dst.add_stream_from_template(s_in)
        for pkt in src.demux(s_in):
            if pkt.dts is not None:
                pkt.stream = s_out
                dst.mux(pkt)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.5)])
    out = tmp_path / "o.mp4"
    r = run_cli("blur", str(cut), "-o", str(out), "--no-progress")
    _assert_clean_failure(r, out, "truncated")


@pytest.mark.slow
def test_unwritable_output_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    out = ro / "o.mp4"
    try:
        r = run_cli("blur", "synthetic:64x48@2", "-o", str(out))
        if os.geteuid() == 0:  # root writes anywhere; a missing directory still fails
            out = tmp_path / "missing" / "o.mp4"
            r = run_cli("blur", "synthetic:64x48@2", "-o", str(out))
            _assert_clean_failure(r, out, "does not exist")
        else:
            _assert_clean_failure(r, out, "not writable")
    finally:
        ro.chmod(0o700)


@pytest.mark.slow
def test_unknown_option_is_named(tmp_path: Path) -> None:
    r = run_cli("blur", "synthetic", "-o", str(tmp_path / "o.mp4"), "--strenght", "3")
    assert r.returncode == 2 and "--strenght" in r.stderr


@pytest.mark.slow
def test_background_that_does_not_load(tmp_path: Path) -> None:
    bg, out = tmp_path / "bg.png", tmp_path / "o.mp4"
    bg.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _assert_clean_failure(run_cli("replace", "synthetic:64x48@2", "--background", str(bg), "-o", str(out)), out,
                          "cannot load background image")


@pytest.mark.slow
def test_model_file_with_bad_checksum(tmp_path: Path) -> None:
    from rtseg.segment.models import SHA256, bundled_model

    bad = tmp_path / "m.tflite"
    data = bytearray(bundled_model("selfie_segmentation.tflite").read_bytes())
    data[5000] ^= 0xFF
    bad.write_bytes(bytes(data))
    cfg = tmp_path / "job.toml"
    out = tmp_path / "o.mp4"
    digest = SHA256["selfie_segmentation.tflite"]
    cfg.write_text(f'command = "blur"\ninput = "synthetic:64x48@2"\noutput = "{out}"\n'
                   f'[model]\nname = "selfie-square"\nfile = "{bad}"\nsha256 = "{digest}"\n')
    _assert_clean_failure(run_cli("run", str(cfg)), out, "sha256")


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = run_cli("blur", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4"), "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "input not found" in r.stderr
