"""Sources: PyAV video keeps timing; image folders keep names; synthetic is deterministic; bad input fails clearly."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from rtseg.errors import SourceError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.stage import SourceStage
from rtseg.sources import ImageFolderSource, SyntheticSource, VideoFileSource, open_source
from tests.conftest import DAVIS, require


def read_all(src: SourceStage) -> list[Frame]:
    out = []
    with src:
        while (f := src.read()) is not None:
            out.append(f)
    return out


def test_video_source_keeps_time_base_fps_and_pts(juggle: Path) -> None:
    src = VideoFileSource(juggle)
    info = src.open()
    src.close()
    assert isinstance(info, StreamInfo)
    assert (info.size, info.fps, info.time_base, info.frames) == ((1280, 720), 24, Fraction(1, 12288), 247)
    assert info.audio is None and not info.live  # the clip has no audio track to copy
    frames = read_all(src := VideoFileSource(juggle))
    assert len(frames) == 247
    assert src.fps == 24 and src.time_base == Fraction(1, 12288)
    assert frames[0].image.shape == (720, 1280, 3) and frames[0].image.dtype == np.uint8
    assert [f.pts for f in frames[:3]] == [0, 512, 1024]
    assert frames[-1].timestamp == pytest.approx(246 / 24)
    assert [f.index for f in frames] == list(range(247))


def test_image_folder_source_reads_sorted_images_with_their_stems() -> None:
    folder = require(DAVIS / "lucia" / "JPEGImages")
    info = ImageFolderSource(folder).open()
    assert (info.size, info.frames, info.fps) == ((854, 480), 70, 30)
    frames = read_all(ImageFolderSource(folder))
    assert len(frames) == 70
    assert [f.name for f in frames[:3]] == ["00000", "00001", "00002"]
    assert frames[0].image.shape == (480, 854, 3)


def test_synthetic_source_is_a_pure_function_of_the_index() -> None:
    assert SyntheticSource(160, 90, frames=5).open() == StreamInfo(160, 90, frames=5, label="synthetic:160x90@5")
    a = read_all(SyntheticSource(160, 90, frames=5))
    b = read_all(SyntheticSource(160, 90, frames=5))
    assert len(a) == 5
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].image, a[4].image), "the shapes must move"


def test_open_source_picks_by_spec(tmp_path: Path) -> None:
    assert isinstance(open_source("synthetic:64x48@3"), SyntheticSource)
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)
    assert isinstance(open_source("clip.mp4"), VideoFileSource)
    sample = open_source("sample")  # the clip bundled with the package
    assert isinstance(sample, VideoFileSource)
    info = sample.open()
    sample.close()
    assert (info.size, info.frames, info.fps, info.label) == ((640, 360), 96, 24, "sample")


def test_missing_input_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="input not found"):
        VideoFileSource(tmp_path / "nope.mp4").open()


def test_a_file_that_is_not_media_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("this is not a video\n" * 100)
    with pytest.raises(SourceError, match="not a readable video"):
        VideoFileSource(bogus).open()


def test_a_truncated_video_fails_instead_of_ending_quietly(tmp_path: Path, juggle: Path) -> None:
    data = juggle.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"truncated|not a readable|corrupt"):
        read_all(VideoFileSource(cut))


def test_empty_and_unreadable_image_folders(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(tmp_path).open()
    (tmp_path / "00000.jpg").write_text("not a jpeg")
    with pytest.raises(SourceError, match="cannot read image"):
        ImageFolderSource(tmp_path).open()


def test_image_folder_resizes_an_odd_sized_frame(tmp_path: Path) -> None:
    src = require(DAVIS / "lucia" / "JPEGImages")
    for name in ("00000.jpg", "00001.jpg"):
        shutil.copy(src / name, tmp_path / name)
    import cv2

    img = cv2.imread(str(tmp_path / "00001.jpg"))
    cv2.imwrite(str(tmp_path / "00001.jpg"), img[:, :853])
    frames = read_all(ImageFolderSource(tmp_path))
    assert frames[1].image.shape == frames[0].image.shape == (480, 854, 3)
