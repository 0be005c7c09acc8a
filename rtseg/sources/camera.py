"""Cameras through OpenCV (V4L2 on Linux), with requested format, mirroring and reconnection.

A grabber thread owns the device: it reads frames as fast as the camera delivers them (so the driver
never buffers stale frames), and when the camera disappears it releases it and retries every
``retry_interval_s``. ``read()`` hands out the newest frame; while no new frame comes (unplugged,
stalled, reconnecting) it repeats the last frame, or a placeholder, at the camera's rate so the
output keeps running, and says so once in the log.

The device boundary is ``capture_factory`` (default :class:`cv2.VideoCapture`): tests pass a fake
capture that fails and recovers; everything above it is the real code.
"""

from __future__ import annotations

import glob
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from rtseg.errors import ConfigError, SourceError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.stage import SourceStage, Worker

log = logging.getLogger("rtseg.live")


class CaptureLike(Protocol):
    """The part of :class:`cv2.VideoCapture` a camera source uses."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def set(self, prop: int, value: float) -> bool: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[int | str, int], CaptureLike]


class CameraBackend(StrEnum):
    """OpenCV capture API. ``auto`` is V4L2 on Linux, DirectShow on Windows, AVFoundation on macOS."""

    AUTO = "auto"
    V4L2 = "v4l2"
    DSHOW = "dshow"
    MSMF = "msmf"
    AVFOUNDATION = "avfoundation"
    ANY = "any"

    def resolve(self) -> CameraBackend:
        if self is not CameraBackend.AUTO:
            return self
        if sys.platform.startswith("linux"):
            return CameraBackend.V4L2
        if sys.platform == "win32":
            return CameraBackend.DSHOW  # honours MJPG + size requests more reliably than MSMF
        if sys.platform == "darwin":
            return CameraBackend.AVFOUNDATION
        return CameraBackend.ANY

    @property
    def api(self) -> int:
        return {
            CameraBackend.V4L2: cv2.CAP_V4L2, CameraBackend.DSHOW: cv2.CAP_DSHOW,
            CameraBackend.MSMF: cv2.CAP_MSMF, CameraBackend.AVFOUNDATION: cv2.CAP_AVFOUNDATION,
        }.get(self.resolve(), cv2.CAP_ANY)


def parse_camera(spec: int | str) -> int | str:
    """Which camera: ``"0"`` → index 0; ``"/dev/video2"`` stays a path.

    >>> parse_camera("0"), parse_camera("/dev/video2")
    (0, '/dev/video2')
    """
    if isinstance(spec, int):
        if spec < 0:
            raise ConfigError(f"camera index must be >= 0, got {spec}")
        return spec
    s = spec.strip()
    if s.isdigit():
        return int(s)
    if not s:
        raise ConfigError("camera device must be an index (0, 1, …) or a path like /dev/video0, got ''")
    return s


def list_cameras() -> list[str]:
    """Camera device nodes present (Linux); empty elsewhere (OpenCV cannot enumerate cheaply)."""
    return sorted(glob.glob("/dev/video*")) if sys.platform.startswith("linux") else []


@dataclass
class CameraOptions:
    """What to ask the camera for. The camera may deliver something else; the source reports it.

    >>> CameraOptions(camera="1").camera
    1
    """

    camera: int | str = 0
    """Which camera: an index (0, 1, …) or a device path such as ``/dev/video0``."""
    width: int | None = 1280
    height: int | None = 720
    fps: float | None = 30.0
    fourcc: str | None = "MJPG"
    """Pixel format requested from the camera; MJPG is what most USB webcams need for 720p30."""
    mirror: bool = False
    backend: CameraBackend = CameraBackend.AUTO
    reconnect: bool = True
    retry_interval_s: float = 1.0
    stall_timeout_s: float = 0.5
    """No new frame for this long: repeat the last frame (the output keeps its rate)."""
    read_failures_before_lost: int = 3
    first_frame_timeout_s: float = 5.0
    duration_s: float | None = None

    def __post_init__(self) -> None:
        self.camera = parse_camera(self.camera)
        self.backend = CameraBackend(self.backend)
        if self.fourcc is not None and len(self.fourcc) != 4:
            raise ConfigError(f"FOURCC must be 4 characters (e.g. MJPG, YUYV), got {self.fourcc!r}")
        for name in ("width", "height", "fps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"camera {name} must be > 0, got {value}")

    @property
    def label(self) -> str:
        """The camera in messages and stats: its device path (an index on Linux: ``/dev/videoN``)."""
        if isinstance(self.camera, int) and sys.platform.startswith("linux"):
            return f"/dev/video{self.camera}"
        return f"camera {self.camera}" if isinstance(self.camera, int) else str(self.camera)


def _default_factory(camera: int | str, api: int) -> CaptureLike:
    return cv2.VideoCapture(camera, api)  # type: ignore[return-value]


def placeholder_image(width: int, height: int, text: str = "camera disconnected - reconnecting") -> np.ndarray:
    """A dark frame with a one-line message, shown until the camera delivers a first frame again."""
    img = np.full((height, width, 3), 32, np.uint8)
    scale = max(0.4, width / 1400)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(img, text, (max(0, (width - tw) // 2), (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (200, 200, 200), 2, cv2.LINE_AA)
    return img


class CameraSource(SourceStage):
    """Frames from a camera, RGB, mirrored if asked, at the camera's rate, for as long as it runs.

    Frames carry ``pts`` in milliseconds since the first frame (``time_base`` 1/1000), so a
    recording keeps the real capture timing.

    >>> with CameraSource(CameraOptions(camera=0)) as cam:  # doctest: +SKIP
    ...     cam.read().image.shape
    (720, 1280, 3)
    """

    name = "source"
    live = True

    def __init__(self, options: CameraOptions | None = None, *, capture_factory: CaptureFactory | None = None) -> None:
        self.options = options or CameraOptions()
        self.mirror = self.options.mirror
        self._factory = capture_factory
        self._cap: CaptureLike | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._opened = False
        self._latest: np.ndarray | None = None
        self._latest_seq = 0
        self._taken_seq = 0
        self._last_image: np.ndarray | None = None
        self._grab_error: BaseException | None = None
        self._connected = False
        self._index = 0
        self._t_first: float | None = None
        self._stalled_since: float | None = None
        self.width = self.options.width or 1280
        self.height = self.options.height or 720
        self.fps: Fraction = Fraction(self.options.fps or 30).limit_denominator(1001)
        self.time_base = Fraction(1, 1000)
        self.declared_frames = 0
        self.has_audio = False
        self.reconnects = 0
        self.filler_frames = 0
        self.outages = 0
        self.delivered: dict[str, Any] = {}
        """What the camera reports it delivers (size, fps, FOURCC), for logs and stats."""

    # -- device ----------------------------------------------------------------------------------

    def _connect(self) -> CaptureLike:
        """Open and configure the device; raises SourceError saying what was tried."""
        opts = self.options
        backend = opts.backend.resolve()
        tried = f"{opts.label} with OpenCV {backend.value.upper()}"
        if self._factory is None and backend is CameraBackend.V4L2:
            node = opts.camera if isinstance(opts.camera, str) else f"/dev/video{opts.camera}"
            if not Path(node).exists():
                raise SourceError(self._no_camera(tried, "device node does not exist"))
        factory = self._factory or _default_factory
        try:
            cap = factory(opts.camera, backend.api)
        except cv2.error as exc:
            raise SourceError(self._no_camera(tried, str(exc).strip())) from exc
        if not cap.isOpened():
            cap.release()
            raise SourceError(self._no_camera(tried, "OpenCV could not open it (busy, no permission, or not a camera)"))
        if opts.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*opts.fourcc))  # before the size, for V4L2
        if opts.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, opts.width)
        if opts.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, opts.height)
        if opts.fps:
            cap.set(cv2.CAP_PROP_FPS, opts.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def _no_camera(self, tried: str, reason: str) -> str:
        present = list_cameras()
        where = ", ".join(present) if present else "none (no /dev/video* devices)"
        if not sys.platform.startswith("linux"):
            where = "unknown on this platform"
        return (f"no camera: tried {tried}: {reason}; cameras present: {where}. Use --camera N|PATH for "
                f"another camera, or --source FILE --realtime to replay a video as a camera")

    def open(self) -> StreamInfo:
        self._stop.clear()
        self._cap = self._connect()
        deadline = time.perf_counter() + self.options.first_frame_timeout_s
        first: np.ndarray | None = None
        while first is None and time.perf_counter() < deadline:
            ok, bgr = self._cap.read()
            if ok and bgr is not None and bgr.size:
                first = bgr
        if first is None:
            self._cap.release()
            self._cap = None
            raise SourceError(f"camera {self.options.label} opened but delivered no frame in "
                              f"{self.options.first_frame_timeout_s:.0f} s")
        self.height, self.width = first.shape[:2]
        reported = self._cap.get(cv2.CAP_PROP_FPS)
        if reported and reported > 0 and reported < 1000:
            self.fps = Fraction(reported).limit_denominator(1001)
        code = int(self._cap.get(cv2.CAP_PROP_FOURCC))
        fourcc = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)) if code > 0 else None
        self.delivered = {"width": self.width, "height": self.height, "fps": float(self.fps), "fourcc": fourcc}
        opts = self.options
        if (opts.width and opts.width != self.width) or (opts.height and opts.height != self.height):
            log.warning("camera %s delivers %dx%d (asked for %sx%s)", opts.label, self.width, self.height,
                        opts.width, opts.height)
        self._latest, self._latest_seq, self._taken_seq = first, 1, 0
        self._connected = True
        self._opened = True
        return StreamInfo(self.width, self.height, self.fps, self.time_base, live=True, label=opts.label)

    def workers(self) -> list[Worker]:
        """The grabber: owns the device, reads frames as fast as the camera delivers them."""
        return [Worker("grab", self._grab_loop, wake=self.request_stop)]

    def _grab_loop(self, stop: threading.Event) -> None:
        opts = self.options
        failures = 0
        next_retry = 0.0
        lost_at = 0.0
        try:
            while not stop.is_set():
                cap = self._cap
                if cap is None:
                    if not opts.reconnect:
                        return
                    now = time.perf_counter()
                    if now < next_retry:
                        stop.wait(min(0.05, next_retry - now))
                        continue
                    next_retry = now + opts.retry_interval_s
                    try:
                        cap = self._connect()
                    except SourceError:
                        continue
                    self._cap = cap
                    failures = 0
                    self.reconnects += 1
                    log.warning("camera %s is back after %.1f s", opts.label, time.perf_counter() - lost_at)
                ok, bgr = cap.read()
                if ok and bgr is not None and bgr.size:
                    failures = 0
                    with self._cond:
                        self._latest = bgr
                        self._latest_seq += 1
                        self._connected = True
                        self._cond.notify_all()
                    continue
                failures += 1
                if failures < opts.read_failures_before_lost:
                    continue
                # The camera is gone: release it and keep trying, or fail if reconnection is off.
                self._cap = None
                cap.release()
                lost_at = time.perf_counter()
                next_retry = lost_at + opts.retry_interval_s
                self.outages += 1
                with self._cond:
                    self._connected = False
                    if not opts.reconnect:
                        self._grab_error = SourceError(f"camera {opts.label} disconnected (read failed)")
                    self._cond.notify_all()
                if opts.reconnect:
                    log.warning("camera %s disconnected; output continues on the last frame; retrying every "
                                "%.1f s", opts.label, opts.retry_interval_s)
                else:
                    return
        except BaseException as exc:  # surfaced by read(), never a silent thread death
            with self._cond:
                self._grab_error = exc
                self._cond.notify_all()

    # -- frames ----------------------------------------------------------------------------------

    def request_stop(self) -> None:
        with self._cond:
            self._stop.set()
            self._cond.notify_all()

    def read(self) -> Frame | None:
        if not self._opened:
            raise SourceError("CameraSource.read() before open()")
        opts = self.options
        interval = float(1 / self.fps)
        now = time.perf_counter()
        if self._t_first is not None and opts.duration_s is not None and now - self._t_first >= opts.duration_s:
            return None
        # While stalled, fillers come once per frame interval; otherwise wait up to the stall timeout.
        timeout = interval if self._stalled_since is not None else opts.stall_timeout_s
        with self._cond:
            deadline = now + timeout
            while self._latest_seq == self._taken_seq and self._grab_error is None and not self._stop.is_set():
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._grab_error is not None:
                err = self._grab_error
                raise SourceError(f"camera {opts.label} failed: {err}") from err
            if self._stop.is_set():
                return None
            fresh = self._latest_seq != self._taken_seq
            bgr = self._latest
            self._taken_seq = self._latest_seq
        if fresh and bgr is not None:
            if self._stalled_since is not None:
                self._stalled_since = None
            image = cv2.cvtColor(cv2.flip(bgr, 1) if self.mirror else bgr, cv2.COLOR_BGR2RGB)
            self._last_image = image
        else:
            if self._stalled_since is None:
                self._stalled_since = time.perf_counter()
                if self._connected:
                    log.warning("camera %s delivered no frame for %.0f ms; repeating the last frame",
                                opts.label, 1000 * timeout)
            self.filler_frames += 1
            image = self._filler()
        t = time.perf_counter()
        if self._t_first is None:
            self._t_first = t
        frame = Frame(image, index=self._index, pts=round((t - self._t_first) * 1000), time_base=self.time_base)
        frame.t_in = t
        self._index += 1
        return frame

    def _filler(self) -> np.ndarray:
        if self._last_image is None:
            self._last_image = placeholder_image(self.width, self.height)
        return self._last_image

    def close(self) -> None:
        """Release the device (the pipeline has joined the grabber before this is called)."""
        self.request_stop()
        self._opened = False
        if self._cap is not None:
            cap, self._cap = self._cap, None
            cap.release()
