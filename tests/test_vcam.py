"""Virtual camera sink: formats, what is handed to pyvirtualcam, and the real no-device error.

This machine has no v4l2loopback device, so pyvirtualcam really fails here: that error path is tested
for real. A fake ``pyvirtualcam.Camera`` stands in at the device boundary for the rest.
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
import pytest
import pyvirtualcam

from rtseg.errors import SinkError
from rtseg.frame import Frame
from rtseg.live.config import LiveConfig
from rtseg.live.pipeline import LiveSession
from rtseg.sinks.vcam import LINUX_HINT, VcamFormat, VcamOptions, VirtualCameraSink, convert_for_vcam
from tests.conftest import DATA, require

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
                             size=lambda: (64, 48), fps_from=lambda: 29.97, camera_factory=FakeVcam)
    with sink:
        for i in range(3):
            sink.process(rgb_frame(index=i))
    cam = FakeVcam.instances[0]
    assert cam.kw == {"width": 64, "height": 48, "fps": 29.97, "fmt": pf, "device": "/dev/video42",
                      "backend": "v4l2loopback", "print_fps": False}
    assert len(cam.frames) == 3 and sink.frames_sent == 3
    assert np.array_equal(cam.frames[2], convert_for_vcam(rgb_frame(index=2).image, fmt))
    assert cam.closed == 1
    sink.close()  # idempotent
    assert cam.closed == 1


def test_frames_of_another_size_are_fitted_to_the_open_device() -> None:
    sink = VirtualCameraSink(VcamOptions(), size=(64, 48), camera_factory=FakeVcam)
    with sink:
        sink.process(rgb_frame(128, 96))
    assert FakeVcam.instances[0].frames[0].shape == (48, 64, 3)


def test_without_a_size_the_device_opens_on_the_first_frame() -> None:
    sink = VirtualCameraSink(VcamOptions(), camera_factory=FakeVcam)
    with sink:
        assert FakeVcam.instances == []
        sink.process(rgb_frame(80, 60))
    assert FakeVcam.instances[0].kw["width"] == 80 and FakeVcam.instances[0].kw["height"] == 60


def test_no_loopback_device_is_a_clear_error_with_the_modprobe_line() -> None:
    # The real pyvirtualcam: there is no v4l2loopback device on this machine.
    sink = VirtualCameraSink(VcamOptions(), size=(640, 480))
    with pytest.raises(SinkError) as info:
        sink.open()
    msg = str(info.value)
    assert msg.startswith("no virtual camera (any backend, 640x480 @ 30 fps)")
    assert "No v4l2 loopback device found" in msg  # pyvirtualcam's own reason
    assert MODPROBE in msg and MODPROBE in LINUX_HINT
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_missing_device_path_names_the_device() -> None:
    sink = VirtualCameraSink(VcamOptions(backend="v4l2loopback", device="/dev/video63"), size=(640, 480))
    with pytest.raises(SinkError, match=r"device /dev/video63.*does not exist.*modprobe v4l2loopback"):
        sink.open()


def test_an_unknown_backend_lists_the_available_ones() -> None:
    with pytest.raises(SinkError, match=r"backend 'obs' is not available here; expected one of: v4l2loopback"):
        VirtualCameraSink(VcamOptions(backend="obs"), size=(64, 48)).open()


def test_live_run_feeds_vcam_and_recording_together(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "rec.mp4"
    cfg = LiveConfig.model_validate({
        "source": {"file": str(require(DATA / "webcam" / "thoughtful-640x360.mp4")), "realtime": True},
        "output": {"vcam": True, "vcam_format": "i420", "record": str(out), "null": True},
        "run": {"duration": 1.0, "status": False}})
    stats = LiveSession(cfg, vcam_factory=FakeVcam).run()
    cam = FakeVcam.instances[0]
    assert cam.kw["width"] == 640 and cam.kw["height"] == 360
    assert cam.kw["fps"] == pytest.approx(30000 / 1001)
    # One second of a 29.97 fps camera: 30 frames, less any the replay clock skipped as late on a
    # loaded machine (counted); every frame that reached the sinks reached all of them.
    late = stats.extra["live"]["replay"]["late_dropped"]
    assert stats.frames_out + late == 30 and stats.frames_out >= 20
    assert len(cam.frames) == stats.frames_out
    assert stats.extra["live"]["outputs"] == ["vcam", "record", "null"]
    import av

    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == stats.frames_out
