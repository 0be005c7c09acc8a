"""Correctness of the performance paths the benchmark motivated (same results as the slow paths)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtseg.effects.composite import blend
from rtseg.frame import Frame, StreamInfo
from rtseg.sinks.video import EncoderSettings, VideoFileSink


def _natural_frame(juggle: Path) -> np.ndarray:
    with av.open(str(juggle)) as c:
        return next(c.decode(video=0)).to_ndarray(format="rgb24")


def test_bounding_box_blend_equals_the_full_frame_blend(juggle: Path) -> None:
    fg = _natural_frame(juggle)
    bg = cv2.GaussianBlur(fg, (0, 0), 6)
    yy, xx = np.mgrid[0:720, 0:1280]
    alpha = np.clip(1.3 - np.hypot((xx - 600) / 150, (yy - 380) / 260), 0, 1).astype(np.float32)
    alpha[alpha < 0.15] = 0  # a small person: the bounding-box path
    bg_before = bg.copy()
    assert np.array_equal(blend(fg, bg, alpha), cv2.blendLinear(fg, bg, alpha, 1.0 - alpha))
    assert np.array_equal(bg, bg_before), "blend must not write into its inputs"
    assert np.array_equal(blend(fg, bg, np.zeros((720, 1280), np.float32)), bg)
    full = np.full((720, 1280), 0.25, np.float32)  # everywhere: the full-frame path
    assert np.array_equal(blend(fg, bg, full), cv2.blendLinear(fg, bg, full, 1.0 - full))


def test_i420_conversion_matches_swscale(juggle: Path) -> None:
    rgb = _natural_frame(juggle)
    sink = VideoFileSink(Path("unused.mp4"), fps=Fraction(24))
    ours = sink._to_video_frame(rgb).to_ndarray()
    ref = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert diff[:720].max() <= 1, "luma: the same BT.601 limited-range matrix as swscale"
    assert diff[720:].mean() < 1.0, "chroma: 2x2 average vs swscale's filter, within a level on average"
    odd = np.zeros((9, 11, 3), np.uint8)
    assert sink._to_video_frame(odd).format.name == "rgb24", "odd sizes keep the rgb24 path"


def test_encoded_colours_survive_the_round_trip(tmp_path: Path, juggle: Path) -> None:
    rgb = _natural_frame(juggle)
    out = tmp_path / "lossless.mp4"
    settings = EncoderSettings(options={"crf": "0", "preset": "ultrafast"})
    sink = VideoFileSink(out, fps=Fraction(24), settings=settings)
    sink.open(StreamInfo(1280, 720, fps=Fraction(24), time_base=Fraction(1, 24)))
    try:
        sink.process(Frame(rgb, index=0, pts=0, time_base=Fraction(1, 24)))
        sink.finish()
    finally:
        sink.close()
    with av.open(str(out)) as c:
        back = next(c.decode(video=0)).to_ndarray(format="rgb24")
    err = np.abs(back.astype(int) - rgb.astype(int))
    assert err.mean() < 2.0 and np.percentile(err, 99) <= 12
