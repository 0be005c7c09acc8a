"""Virtual camera sink: formats, what is handed to pyvirtualcam, and the real no-device error.

This machine has no v4l2loopback device, so pyvirtualcam really fails here: that error path is tested
for real. A fake ``pyvirtualcam.Camera`` stands in at the device boundary for the rest.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest
import pyvirtualcam

from rtseg.errors import SinkError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph import Pipeline, SimulatedClock, SourceStage
from rtseg.jobs import JobSpec, Overrides, build
from rtseg.sinks.vcam import LINUX_HINT, VcamFormat, VcamOptions, VirtualCameraSink, convert_for_vcam
from rtseg.sources.realtime import RealtimeSource
from tests.conftest import DATA, require

CLIP = DATA / "webcam" / "thoughtful-640x360.mp4"
INFO = StreamInfo(64, 48, fps=Fraction(30000, 1001), live=True)
MODPROBE = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=rtseg"


class FakeVcam:
    """Records what pyvirtualcam.Camera would have been given."""

    instances: ClassVar[list[FakeVcam]] = []

    def __init__(self, **kw: object) -> None:
        self.kw = kw
        self.frames: list[np.ndarray] = []
        self.closed = 0
        self.device = kw.get("device") or "/dev/video10"
        FakeVcam.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed += 1


@pytest.fixture(autouse=True)
def _reset() -> None:
    FakeVcam.instances.clear()


def rgb_frame(w: int = 64, h: int = 48, index: int = 0) -> Frame:
    rng = np.random.default_rng(index)
    return Frame(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), index=index)


def test_rgb_is_passed_through_and_bgr_swaps_channels() -> None:
    f = rgb_frame()
    assert np.array_equal(convert_for_vcam(f.image, VcamFormat.RGB), f.image)
    assert np.array_equal(convert_for_vcam(f.image, VcamFormat.BGR), f.image[..., ::-1])


def test_i420_is_planar_yuv_that_decodes_back_to_the_image() -> None:
    f = rgb_frame(64, 48)
    yuv = convert_for_vcam(f.image, VcamFormat.I420)
    assert yuv.shape == (72, 64) and yuv.size == 64 * 48 * 3 // 2  # what pyvirtualcam checks
    back = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
    smooth = cv2.GaussianBlur(f.image, (0, 0), 3)  # chroma is subsampled; compare a smooth image
    back_smooth = cv2.cvtColor(convert_for_vcam(smooth, VcamFormat.I420), cv2.COLOR_YUV2RGB_I420)
    assert back.shape == f.image.shape
    assert np.abs(back_smooth.astype(int) - smooth.astype(int)).mean() < 3
    with pytest.raises(SinkError, match="even frame size"):
        convert_for_vcam(np.zeros((5, 4, 3), np.uint8), VcamFormat.I420)


@pytest.mark.parametrize(("fmt", "pf"), [(VcamFormat.AUTO, pyvirtualcam.PixelFormat.RGB),
                                         (VcamFormat.BGR, pyvirtualcam.PixelFormat.BGR),
                                         (VcamFormat.I420, pyvirtualcam.PixelFormat.I420)])
def test_sink_opens_the_device_with_size_fps_format_device_and_backend(fmt: VcamFormat, pf: object) -> None:
    sink = VirtualCameraSink(VcamOptions(backend="v4l2loopback", device="/dev/video42", format=fmt),
                             camera_factory=FakeVcam)
    sink.open(INFO)
    try:
        assert sink.device == "/dev/video42"
        for i in range(3):
            sink.process(rgb_frame(index=i))
    finally:
        sink.close()
    cam = FakeVcam.instances[0]
    assert cam.kw == {"width": 64, "height": 48, "fps": 30000 / 1001, "fmt": pf, "device": "/dev/video42",
                      "backend": "v4l2loopback", "print_fps": False}
    assert len(cam.frames) == 3 and sink.frames_sent == 3
    assert np.array_equal(cam.frames[2], convert_for_vcam(rgb_frame(index=2).image, fmt))
    assert cam.closed == 1
    sink.close()  # idempotent
    assert cam.closed == 1


class ResizingSource(SourceStage):
    """Frames that change size mid-stream, like a camera that came back at another resolution."""

    def __init__(self, sizes: list[tuple[int, int]]) -> None:
        self.sizes = sizes
        self.i = 0

    def open(self) -> StreamInfo:
        w, h = self.sizes[0]
        return StreamInfo(w, h, fps=Fraction(25), live=True)

    def read(self) -> Frame | None:
        if self.i == len(self.sizes):
            return None
        w, h = self.sizes[self.i]
        self.i += 1
        return rgb_frame(w, h, index=self.i - 1)


def test_frames_of_another_size_reach_the_device_at_the_size_it_was_opened_with() -> None:
    # The pipeline brings every frame back to the stream's size, in one place; the sink only sends.
    sink = VirtualCameraSink(VcamOptions(), camera_factory=FakeVcam)
    stats = Pipeline(ResizingSource([(64, 48), (128, 96), (80, 60)]), [], sink, queue_size=8).run()
    cam = FakeVcam.instances[0]
    assert (cam.kw["width"], cam.kw["height"], cam.kw["fps"]) == (64, 48, 25.0)
    assert [f.shape for f in cam.frames] == [(48, 64, 3)] * 3
    assert stats.size_changes == 2 and stats.frames_out == 3


def test_the_device_opens_at_open_with_the_stream_size_before_any_frame() -> None:
    sink = VirtualCameraSink(VcamOptions(), camera_factory=FakeVcam)
    sink.open(StreamInfo(80, 60, fps=Fraction(24)))
    try:
        assert len(FakeVcam.instances) == 1 and FakeVcam.instances[0].frames == []
        assert (FakeVcam.instances[0].kw["width"], FakeVcam.instances[0].kw["height"]) == (80, 60)
        assert FakeVcam.instances[0].kw["fps"] == 24.0
    finally:
        sink.close()


def test_an_odd_stream_size_is_padded_to_even_for_i420() -> None:
    # I420 halves chroma both ways: the device is opened one pixel larger, each frame padded to it.
    sink = VirtualCameraSink(VcamOptions(format=VcamFormat.I420), camera_factory=FakeVcam)
    sink.open(StreamInfo(63, 47))
    try:
        f = rgb_frame(63, 47)
        sink.process(f)
    finally:
        sink.close()
    cam = FakeVcam.instances[0]
    assert (cam.kw["width"], cam.kw["height"]) == (64, 48) and cam.frames[0].shape == (72, 64)
    padded = np.concatenate([f.image, f.image[:, -1:]], axis=1)
    padded = np.concatenate([padded, padded[-1:]], axis=0)
    assert np.array_equal(cam.frames[0], convert_for_vcam(padded, VcamFormat.I420))


def test_no_loopback_device_is_a_clear_error_with_the_modprobe_line() -> None:
    # The real pyvirtualcam: there is no v4l2loopback device on this machine.
    sink = VirtualCameraSink(VcamOptions())
    with pytest.raises(SinkError) as info:
        sink.open(StreamInfo(640, 480, fps=Fraction(30)))
    msg = str(info.value)
    assert msg.startswith("no virtual camera (any backend, 640x480 @ 30 fps)")
    assert "No v4l2 loopback device found" in msg  # pyvirtualcam's own reason
    assert MODPROBE in msg and MODPROBE in LINUX_HINT
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_missing_device_path_names_the_device() -> None:
    sink = VirtualCameraSink(VcamOptions(backend="v4l2loopback", device="/dev/video63"))
    with pytest.raises(SinkError, match=r"device /dev/video63.*does not exist.*modprobe v4l2loopback"):
        sink.open(StreamInfo(640, 480))


def test_an_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(SinkError, match=r"backend 'obs' is not available here; expected one of: v4l2loopback"):
        VirtualCameraSink(VcamOptions(backend="obs")).open(StreamInfo(64, 48))


def test_live_run_feeds_vcam_and_recording_together(tmp_path: Path) -> None:
    out = tmp_path / "rec.mp4"
    spec = JobSpec.from_dict({
        "command": "webcam", "source": {"path": str(require(CLIP)), "realtime": True, "loop": False},
        "outputs": [{"kind": "vcam", "vcam_format": "i420"}, {"kind": "record", "path": str(out)}, {"kind": "null"}],
        "run": {"duration": 1.0, "status": False}}).check()
    pipeline = build(spec, overrides=Overrides(vcam_factory=FakeVcam))
    # One second of the 29.97 fps clip on a simulated clock (so that a busy machine cannot make the
    # replay skip a frame) and queues that hold it all: every frame reaches every sink.
    pipeline.source = RealtimeSource(CLIP, loop=False, duration_s=1.0, clock=SimulatedClock(), label=str(CLIP))
    pipeline.queue_size = 64
    stats = pipeline.run()
    cam = FakeVcam.instances[0]
    assert cam.kw["width"] == 640 and cam.kw["height"] == 360 and cam.kw["fmt"] == pyvirtualcam.PixelFormat.I420
    assert cam.kw["fps"] == pytest.approx(30000 / 1001)
    assert stats.frames_in == stats.frames_out == 30 and stats.dropped == 0
    assert len(cam.frames) == 30 and cam.closed == 1
    assert stats.extra["live"]["outputs"] == ["vcam", "record", "null"]
    import av

    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        rate = c.streams.video[0].average_rate
    assert len(frames) == 30 and abs(float(rate) - 29.97) < 0.1
    # What the virtual camera got is what was recorded (the composite, I420 round trip aside).
    sent = cv2.cvtColor(cam.frames[10], cv2.COLOR_YUV2RGB_I420)
    assert np.abs(sent.astype(int) - frames[10].astype(int)).mean() < 6
