"""Camera source: requested format, mirroring, the "no camera" error, disconnect and reconnect.

There is no camera here. The real OpenCV path is exercised for the error cases; for everything else a
fake ``cv2.VideoCapture`` stands in at the device boundary only (the grabber thread, reconnection,
fillers, pacing and the live graph above it are the real code).
"""

from __future__ import annotations

import logging
import threading
import time
from fractions import Fraction

import cv2
import numpy as np
import pytest

from rtseg.errors import ConfigError, SourceError
from rtseg.jobs import JobSpec, Overrides, build
from rtseg.sources.camera import CameraBackend, CameraOptions, CameraSource, parse_camera, placeholder_image

W, H = 64, 48


def encode(counter: int) -> np.ndarray:
    """A BGR frame that carries ``counter`` in a centre block and a white marker on its left edge."""
    img = np.zeros((H, W, 3), np.uint8)
    img[H // 2 - 2 : H // 2 + 2, W // 2 - 2 : W // 2 + 2] = (counter & 255, (counter >> 8) & 255, 0)
    img[:, :4] = 255
    return img


def decode(rgb: np.ndarray) -> int:
    px = rgb[H // 2, W // 2]  # RGB now: B→index 2, G→index 1
    return int(px[2]) + 256 * int(px[1])


class FakeCamera:
    """A USB camera that can be unplugged and plugged back: the device behind ``cv2.VideoCapture``."""

    def __init__(self, fps: float = 50.0) -> None:
        self.fps = fps
        self.plugged = True
        self.counter = 0
        self.opens: list[tuple[object, int]] = []
        self.props: list[tuple[int, float]] = []
        self.lock = threading.Lock()

    def factory(self, camera: int | str, api: int) -> FakeCapture:
        self.opens.append((camera, api))
        return FakeCapture(self)


class FakeCapture:
    def __init__(self, cam: FakeCamera) -> None:
        self.cam = cam
        self.opened = cam.plugged
        self.released = False

    def isOpened(self) -> bool:
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.cam.props.append((prop, value))
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self.cam.fps, cv2.CAP_PROP_FOURCC: float(cv2.VideoWriter.fourcc(*"MJPG"))}.get(
            prop, 0.0
        )

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(1 / self.cam.fps)
        if self.released or not self.cam.plugged:
            return False, None
        with self.cam.lock:
            self.cam.counter += 1
            return True, encode(self.cam.counter)

    def release(self) -> None:
        self.released = True


def opts(**kw: object) -> CameraOptions:
    base: dict = {"camera": 0, "width": W, "height": H, "fps": 50, "retry_interval_s": 0.1, "stall_timeout_s": 0.1}
    base.update(kw)
    return CameraOptions(**base)


def test_camera_is_asked_for_fourcc_size_fps_and_a_one_frame_buffer_in_that_order() -> None:
    cam = FakeCamera()
    with CameraSource(opts(camera="/dev/video3", width=1280, height=720, fps=30), capture_factory=cam.factory) as src:
        frame = src.read()
    assert cam.opens == [("/dev/video3", CameraBackend.AUTO.api)]
    props = [p for p, _ in cam.props]
    assert props == [
        cv2.CAP_PROP_FOURCC,
        cv2.CAP_PROP_FRAME_WIDTH,
        cv2.CAP_PROP_FRAME_HEIGHT,
        cv2.CAP_PROP_FPS,
        cv2.CAP_PROP_BUFFERSIZE,
    ]
    values = dict(cam.props)
    assert values[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter.fourcc(*"MJPG")
    asked = (values[cv2.CAP_PROP_FRAME_WIDTH], values[cv2.CAP_PROP_FRAME_HEIGHT], values[cv2.CAP_PROP_FPS])
    assert asked == (1280, 720, 30)
    # The camera delivered 64x48 at 50 fps (not what was asked): the source reports what it got.
    assert frame is not None and frame.image.shape == (H, W, 3)
    assert src.delivered == {"width": W, "height": H, "fps": 50.0, "fourcc": "MJPG"}
    assert frame.image[0, 0].tolist() == [255, 255, 255] and frame.image[0, -1].tolist() == [0, 0, 0]


def test_frames_are_rgb_in_order_and_mirroring_can_be_switched_live() -> None:
    cam = FakeCamera()
    with CameraSource(opts(), capture_factory=cam.factory) as src:
        frames = [src.read() for _ in range(5)]
        src.mirror = True
        mirrored = src.read()
    counters = [decode(f.image) for f in frames if f is not None]
    assert counters == sorted(counters) and len(set(counters)) == 5
    assert [f.index for f in frames if f is not None] == [0, 1, 2, 3, 4]
    assert mirrored is not None
    assert mirrored.image[0, -1].tolist() == [255, 255, 255] and mirrored.image[0, 0].tolist() == [0, 0, 0]
    pts = [f.pts for f in frames if f is not None]
    assert pts == sorted(pts) and frames[0] is not None and frames[0].time_base == Fraction(1, 1000)


def test_a_camera_that_disappears_and_returns_keeps_the_output_running(caplog: pytest.LogCaptureFixture) -> None:
    cam = FakeCamera(fps=50)
    got: list[tuple[float, int, int]] = []
    when: dict[str, float] = {}

    def plug(state: bool, t0: float) -> None:
        cam.plugged = state
        when["replug" if state else "unplug"] = time.perf_counter() - t0

    caplog.set_level(logging.INFO, logger="rtseg.live")
    with CameraSource(opts(), capture_factory=cam.factory) as src:
        t0 = time.perf_counter()
        threading.Timer(0.3, plug, (False, t0)).start()
        threading.Timer(0.8, plug, (True, t0)).start()
        while time.perf_counter() - t0 < 1.4:
            f = src.read()
            assert f is not None
            got.append((time.perf_counter() - t0, f.index, decode(f.image)))
    assert [i for _, i, _ in got] == list(range(len(got)))  # never a gap in the output
    unplug, replug = when["unplug"], when["replug"]
    before = [c for t, _, c in got if t < unplug]
    during = [c for t, _, c in got if unplug + 0.2 < t < replug]
    after = [c for t, _, c in got if t > replug + 0.3]
    # While unplugged the output repeats the last frame, at about the camera's rate ...
    assert len(set(during)) == 1 and during[0] >= max(before)
    assert len(during) >= 0.5 * 50 * (replug - unplug - 0.2)
    # ... and after the camera came back, fresh frames flow again.
    assert after and min(after) > during[0]
    assert (src.outages, src.reconnects) == (1, 1) and src.filler_frames >= len(during)
    assert len(cam.opens) >= 2  # reopened through the factory
    msgs = [r.getMessage() for r in caplog.records if r.name == "rtseg.live"]
    assert sum("disconnected" in m for m in msgs) == 1, msgs
    assert sum("is back" in m for m in msgs) == 1, msgs


def test_without_reconnection_a_lost_camera_is_an_error() -> None:
    cam = FakeCamera()
    with CameraSource(opts(reconnect=False), capture_factory=cam.factory) as src:
        assert src.read() is not None
        cam.plugged = False
        with pytest.raises(SourceError, match="disconnected"):
            for _ in range(100):
                src.read()


def test_live_graph_on_a_flaky_camera_keeps_delivering_through_the_outage() -> None:
    # The real live graph (selfie model, carry, composite) on a camera that is unplugged 0.5 s into
    # the run and plugged back 0.5 s later. Only what load cannot change is asserted: how often the
    # camera delivers, and how many frames a busy machine drops, depend on the machine.
    cam = FakeCamera(fps=30)
    spec = JobSpec.from_dict({
        "command": "webcam",
        "source": {"camera": 0, "width": W, "height": H, "fps": 30, "retry_interval_s": 0.1},
        "outputs": [{"kind": "null"}],
        "run": {"duration": 2.0, "status": False, "queue_size": 64},
    }).check()
    out: list[tuple[float, int, int, bool]] = []
    when: dict[str, float] = {}

    def plug(state: bool) -> None:
        cam.plugged = state
        when["replug" if state else "unplug"] = time.perf_counter()

    def on_output(frame, stats) -> None:  # type: ignore[no-untyped-def]
        if not out:  # unplug 0.5 s into the run, plug back 0.5 s later
            threading.Timer(0.5, plug, (False,)).start()
            threading.Timer(1.0, plug, (True,)).start()
        out.append((frame.t_in, frame.index, decode(frame.image), frame.output is not None))

    pipeline = build(spec, overrides=Overrides(capture_factory=cam.factory), on_output=on_output)
    assert isinstance(pipeline.source, CameraSource)
    pipeline.source.options.stall_timeout_s = 0.1
    stats = pipeline.run()
    info = pipeline.info
    assert info is not None and (info.width, info.height, info.live) == (W, H, True)
    cam_stats = stats.extra["live"]["camera"]
    assert cam_stats["outages"] == 1 and cam_stats["reconnects"] == 1 and cam_stats["filler_frames"] >= 1
    assert cam_stats["fourcc"] == "MJPG" and cam_stats["fps"] == 30.0
    # Every frame read reached the sink or was counted as dropped; the output is in order and composited.
    assert stats.frames_in == stats.frames_out + stats.dropped
    assert [i for _, i, _, _ in out] == sorted({i for _, i, _, _ in out})
    assert all(composited for *_, composited in out)
    # Frames the camera source made while unplugged repeat the last frame the camera delivered, and
    # reached the sink; after the replug, fresh frames flow again (by capture time, not output time).
    counters = [c for _, _, c, _ in out]
    during = [c for t, _, c, _ in out if when["unplug"] + 0.2 < t < when["replug"]]
    before = [c for t, _, c, _ in out if t < when["replug"]]
    after = [c for t, _, c, _ in out if t > when["replug"] + 0.3]
    assert during and set(during) == {max(before)}
    assert after and max(after) > during[0]
    assert counters == sorted(counters)


def test_no_camera_here_is_a_clear_error_from_the_real_opencv_path() -> None:
    with pytest.raises(SourceError) as info:
        CameraSource(CameraOptions(camera=7)).open()
    msg = str(info.value)
    assert msg.startswith("no camera: tried /dev/video7 with OpenCV V4L2")
    assert "cameras present" in msg and "--source FILE --realtime" in msg


def test_a_device_that_is_not_a_camera_is_reported_by_opencv() -> None:
    # /dev/null exists, so OpenCV's V4L2 backend really tries it and fails.
    with pytest.raises(SourceError, match=r"no camera: tried /dev/null with OpenCV V4L2: OpenCV could not open it"):
        CameraSource(CameraOptions(camera="/dev/null")).open()


def test_a_camera_that_opens_but_sends_nothing_is_an_error() -> None:
    cam = FakeCamera()
    cam.plugged = True

    class Mute(FakeCapture):
        def read(self) -> tuple[bool, np.ndarray | None]:
            return False, None

    with pytest.raises(SourceError, match="delivered no frame"):
        CameraSource(opts(first_frame_timeout_s=0.2), capture_factory=lambda d, a: Mute(cam)).open()


def test_camera_and_option_validation() -> None:
    assert parse_camera("2") == 2 and parse_camera("/dev/video0") == "/dev/video0"
    with pytest.raises(ConfigError, match="FOURCC must be 4 characters"):
        CameraOptions(fourcc="MJPEG")
    with pytest.raises(ConfigError, match="camera fps must be > 0"):
        CameraOptions(fps=0)
    with pytest.raises(ConfigError, match="index must be >= 0"):
        parse_camera(-1)


def test_placeholder_has_the_frame_size_and_visible_text() -> None:
    img = placeholder_image(320, 180)
    assert img.shape == (180, 320, 3) and img.max() > 150 and np.median(img) == 32
