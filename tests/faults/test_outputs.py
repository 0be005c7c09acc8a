"""Outputs never touch inputs, never merge with old ones, and fail before any frame when they cannot work."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import visible
from tests.faults.conftest import assert_refused, rtseg, tree

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("spelling", ["in.mp4", "./in.mp4", "{abs}/in.mp4", "link.mp4", "hard.mp4", "sub/../in.mp4"])
def test_a_video_output_that_is_the_input_is_refused_however_spelled(work: Path, spelling: str) -> None:
    (work / "link.mp4").symlink_to(work / "in.mp4")
    os.link(work / "in.mp4", work / "hard.mp4")
    (work / "sub").mkdir()
    before = tree(work)
    ended = rtseg("blur", "in.mp4", "-o", spelling.format(abs=work), cwd=work)
    assert_refused(ended, 2, "refusing to write over an input")
    assert tree(work) == before


@pytest.mark.parametrize("option", ["-o", "--masks", "--stats-json"])
def test_no_output_kind_may_write_into_an_input_folder(tmp_path: Path, option: str) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    import cv2

    for i in range(3):
        cv2.imwrite(str(frames / f"{i:05d}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    before = tree(tmp_path)
    target = frames if option != "--stats-json" else frames / "s.json"
    extra = ["--masks", str(tmp_path / "m")] if option == "--stats-json" else []
    ended = rtseg("segment" if option == "--masks" else "blur", str(frames), option, str(target), *extra,
                  *(["-o", str(tmp_path / "o.mp4")] if option == "--stats-json" else []), cwd=tmp_path)
    assert_refused(ended, 2, "input")
    assert tree(tmp_path) == before


def test_background_and_config_are_inputs_too(work: Path) -> None:
    import cv2

    cv2.imwrite(str(work / "bg.png"), np.zeros((8, 8, 3), np.uint8))
    (work / "job.toml").write_text('command = "blur"\ninput = "in.mp4"\noutput = "out.mp4"\n')
    before = tree(work)
    assert_refused(rtseg("replace", "in.mp4", "--background", "bg.png", "-o", "bg.png", cwd=work), 2,
                   "the background")
    assert_refused(rtseg("blur", "--config", "job.toml", "--stats-json", "job.toml", cwd=work), 2,
                   "the config file")
    assert tree(work) == before


def test_two_outputs_naming_one_file_are_refused(work: Path) -> None:
    before = tree(work)
    assert_refused(rtseg("blur", "in.mp4", "-o", "out.mp4", "--stats-json", "./out.mp4", cwd=work), 2,
                   "name the same file")
    assert tree(work) == before


@pytest.mark.parametrize(("args", "match"), [
    (["-o", "missing/out.mp4"], "does not exist"),
    (["-o", "out.gif"], "cannot write a video to 'out.gif'"),
    (["-o", "out.png"], "out.png is one image, but the input has 96 frames"),
    (["-o", "out.jpg"], "cannot write a video to 'out.jpg'"),
    (["-o", "out.mp4", "--stats-json", "missing/s.json"], "does not exist"),
    (["-o", "out.mp4", "--preset", "fastest"], "unknown x264 preset"),
    (["-o", "adir.mp4"], "is a folder"),
])
def test_unusable_outputs_fail_before_the_first_frame(work: Path, args: list[str], match: str) -> None:
    (work / "adir.mp4").mkdir()
    before = tree(work)
    assert_refused(rtseg("blur", "in.mp4", *args, cwd=work), 2, match)
    assert tree(work) == before


def test_a_masks_folder_is_replaced_as_a_whole(work: Path) -> None:
    masks = work / "m"
    earlier = rtseg("segment", "synthetic:32x24@200", "--masks", "m", "--no-progress", cwd=work)
    assert earlier.code == 0, earlier.stderr  # an earlier, longer run of rtseg's own
    ended = rtseg("segment", "in.mp4", "--masks", "m", "--no-progress", cwd=work)
    assert ended.code == 0, ended.stderr
    assert [p.name for p in visible(masks)] == [f"{i:05d}.png" for i in range(96)]  # no stale 96..199
    assert (masks.stat().st_mode & 0o777) == 0o777 & ~_umask()
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_an_existing_output_is_replaced_only_after_success(work: Path) -> None:
    (work / "out.mp4").write_bytes(b"keep me")
    (work / "bad.mp4").write_bytes((work / "in.mp4").read_bytes()[:60_000])  # truncated
    ended = rtseg("blur", "bad.mp4", "-o", "out.mp4", "--no-progress", cwd=work)
    assert ended.code == 1 and "Traceback" not in ended.stderr
    assert (work / "out.mp4").read_bytes() == b"keep me"
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []


def _clip(path: Path, width: int, height: int, frames: int = 4, rotation: int | None = None) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264rgb", rate=24)
        s.width, s.height, s.pix_fmt = width, height, "rgb24"
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, : max(1, width // 4)] = 255  # a white band on the left
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 2), (641, 361), (640, 427)])
@pytest.mark.parametrize("output", ["out.mp4", "out.webm", "frames"])
def test_odd_frame_sizes_are_written(tmp_path: Path, width: int, height: int, output: str) -> None:
    _clip(tmp_path / "odd.mp4", width, height)
    ended = rtseg("blur", "odd.mp4", "-o", output, "--no-progress", cwd=tmp_path)
    assert ended.code == 0, ended.stderr
    if output == "frames":
        import cv2

        img = cv2.imread(str(tmp_path / "frames" / "00000.png"))
        assert img.shape[:2] == (height, width)
        return
    with av.open(str(tmp_path / output)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (width + width % 2, height + height % 2)
        assert sum(1 for _ in c.decode(s)) == 4


@pytest.mark.parametrize("output", ["out.webm", "out.mov", "cut"])
def test_odd_sizes_with_alpha(tmp_path: Path, output: str) -> None:
    _clip(tmp_path / "odd.mp4", 65, 33)
    ended = rtseg("cutout", "odd.mp4", "-o", output, "--no-progress", cwd=tmp_path)
    assert ended.code == 0, ended.stderr


def test_a_rotated_phone_video_is_segmented_and_written_upright(tmp_path: Path) -> None:
    _clip(tmp_path / "phone.mp4", 64, 32, rotation=-90)  # a phone's portrait clip: 90 degrees clockwise
    ended = rtseg("overlay", "phone.mp4", "-o", "up.mp4", "--no-progress", cwd=tmp_path)
    assert ended.code == 0, ended.stderr
    with av.open(str(tmp_path / "up.mp4")) as c:
        s = c.streams.video[0]
        frame = next(c.decode(s))
        assert (frame.width, frame.height) == (32, 64)
        assert not frame.rotation
        img = frame.to_ndarray(format="rgb24")
    # turned clockwise, the band on the left ends at the top
    assert img[:8].mean() > 150 and img[-8:].mean() < 100


def test_a_live_recording_of_an_odd_sized_camera_is_written(tmp_path: Path) -> None:
    _clip(tmp_path / "odd.mp4", 65, 33, frames=12)
    ended = rtseg("webcam", "--source", "odd.mp4", "--realtime", "--no-loop", "--sink", "null", "--record",
                  "rec.mp4", "--no-status", cwd=tmp_path)
    assert ended.code == 0, ended.stderr
    with av.open(str(tmp_path / "rec.mp4")) as c:
        s = c.streams.video[0]
        assert (s.codec_context.width, s.codec_context.height) == (66, 34)
        assert sum(1 for _ in c.decode(s)) > 0


INPUT_KINDS = ["source file", "source folder", "background", "mask prompt", "prompts file", "config"]
OUTPUT_KINDS = ["-o", "-o folder", "--masks", "--stats-json", "--rle", "--logits", "--record"]


# Live (``--record``) reads a video file and takes only point/box prompts: no folder, mask or prompts file.
CASES = [(t, o) for t in INPUT_KINDS for o in OUTPUT_KINDS
         if not (o == "--record" and t in ("source folder", "mask prompt", "prompts file"))]


@pytest.mark.parametrize(("target", "output"), CASES)
def test_every_output_kind_naming_every_input_kind_is_refused(tmp_path: Path, target: str, output: str) -> None:
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00000.png"), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "bg.png"), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "mask.png"), np.full((48, 64), 255, np.uint8))
    (tmp_path / "in.mp4").write_bytes(SAMPLE_BYTES)
    (tmp_path / "prompts.json").write_text('[{"frame": 0, "object": 1, "points": [[5, 5]]}]')
    (tmp_path / "model").mkdir()
    (tmp_path / "job.toml").write_text('[effect]\nstrength = 20\n')
    paths = {"source file": "in.mp4", "source folder": "frames", "background": "bg.png", "mask prompt": "mask.png",
             "prompts file": "prompts.json", "config": "job.toml"}
    victim = paths[target]
    live = output == "--record"
    command = "webcam" if live else ("replace" if target == "background" else "blur")
    args: list[str] = [command]
    if live:
        args += ["--source", "in.mp4", "--realtime", "--sink", "null"]
    else:
        args.append("frames" if target == "source folder" else "in.mp4")
    if target == "background":
        args += ["--background", "bg.png"]
    sam2 = target in ("mask prompt", "prompts file") or output in ("--rle", "--logits")
    if sam2:
        args += ["--model", "sam2", "--model-dir", "model"]
        args += ["--prompts", "prompts.json"] if target == "prompts file" else (
            ["--mask", "mask.png"] if target == "mask prompt" else ["--point", "5,5"])
    if target == "config" and not live:
        args += ["--config", "job.toml"]
    if target == "config" and live:
        (tmp_path / "job.toml").write_text('command = "webcam"\n[effect]\nstrength = 20\n')
        args += ["--config", "job.toml"]
    if output == "-o folder":
        args += ["-o", str(Path(victim) / "sub") if target == "source folder" else victim]
    elif output == "-o":
        args += ["-o", victim]
    else:
        args += [output, victim]
        if output in ("--stats-json", "--masks", "--rle", "--logits") and not live:
            args += ["-o", "out.mp4"] if output != "--masks" else []
    before = tree(tmp_path)
    ended = rtseg(*args, cwd=tmp_path, timeout=60)
    assert ended.code == 2, (args, ended.stderr)
    errors = [x for x in ended.lines if x.startswith("error:")]
    assert "Traceback" not in ended.stderr and len(errors) == 1
    assert "refusing to write" in errors[0] or "it would be replaced" in errors[0], (args, errors)
    assert tree(tmp_path) == before


SAMPLE_BYTES = __import__("tests.faults.conftest", fromlist=["SAMPLE"]).SAMPLE.read_bytes()
