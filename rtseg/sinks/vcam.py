"""A virtual camera through pyvirtualcam: v4l2loopback on Linux, OBS on Windows/macOS, Unity Capture.

Video-call apps then pick "rtseg" as their camera. Frames go out as RGB (pyvirtualcam converts to
the device format natively), or as BGR / I420 when asked, converted here with OpenCV. The device
boundary is ``camera_factory`` (default :class:`pyvirtualcam.Camera`); without a loopback device the
real pyvirtualcam error is turned into a :class:`~rtseg.errors.SinkError` that says how to get one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import cv2
import numpy as np

from rtseg.errors import ConfigError, SinkError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.queues import Policy
from rtseg.graph.stage import SinkStage
from rtseg.imaging import even_size, pad_to_even

MODPROBE_COMMAND = "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=rtseg"
"""How to create a v4l2loopback device (``rtseg devices`` suggests it too)."""
LINUX_HINT = f"create one with: {MODPROBE_COMMAND} (package v4l2loopback-dkms on Debian/Ubuntu)"
WINDOWS_MAC_HINT = "install OBS Studio (28+) and start its virtual camera once, or install Unity Capture (Windows)"


def device_hint() -> str:
    """How to get a virtual camera device on this platform."""
    return LINUX_HINT if sys.platform.startswith("linux") else WINDOWS_MAC_HINT


class VcamFormat(StrEnum):
    """Pixel format handed to pyvirtualcam. ``auto`` is RGB (our frames' format; no conversion here)."""

    AUTO = "auto"
    RGB = "rgb"
    BGR = "bgr"
    I420 = "i420"


def convert_for_vcam(rgb: np.ndarray, fmt: VcamFormat) -> np.ndarray:
    """An RGB uint8 frame in the layout pyvirtualcam expects for ``fmt``.

    I420 is planar (Y, then U and V at quarter resolution) in one (H*3/2, W) array; width and height
    must be even.

    >>> import numpy as np
    >>> convert_for_vcam(np.zeros((4, 6, 3), np.uint8), VcamFormat.I420).shape
    (6, 6)
    """
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or rgb.dtype != np.uint8:
        raise SinkError(f"virtual camera needs RGB uint8 (H, W, 3) frames, got {rgb.dtype} {rgb.shape}")
    if rgb.shape[2] == 4:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_RGBA2RGB)
    if fmt in (VcamFormat.AUTO, VcamFormat.RGB):
        return np.ascontiguousarray(rgb)
    if fmt is VcamFormat.BGR:
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        raise SinkError(f"I420 needs an even frame size, got {w}x{h}")
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


@dataclass
class VcamOptions:
    """Which virtual camera to feed.

    ``backend``: ``v4l2loopback`` (Linux), ``obs``, ``unitycapture`` (Windows); None lets pyvirtualcam
    try each available one. ``device``: e.g. ``/dev/video10``; None picks the first free one.
    """

    backend: str | None = None
    device: str | None = None
    format: VcamFormat = VcamFormat.AUTO
    fps: float = 30.0

    def __post_init__(self) -> None:
        self.format = VcamFormat(self.format)
        if self.fps <= 0:
            raise ConfigError(f"virtual camera fps must be > 0, got {self.fps}")


CameraFactory = Callable[..., Any]


def available_backends() -> list[str]:
    try:
        from pyvirtualcam.camera import BACKENDS
    except ImportError:
        return []
    return list(BACKENDS)


class VirtualCameraSink(SinkStage):
    """Send each composite frame to a virtual camera.

    The device is opened at ``open(info)`` with the stream's size and frame rate (the camera's actual
    ones). ``camera_factory`` is the device boundary (default :class:`pyvirtualcam.Camera`).

    >>> sink = VirtualCameraSink(VcamOptions())
    >>> sink.open(StreamInfo(1280, 720))  # doctest: +SKIP
    Traceback (most recent call last):
    rtseg.errors.SinkError: no virtual camera: ... sudo modprobe v4l2loopback devices=1 ...
    """

    name = "vcam"
    live_policy = Policy.DROP_OLDEST  # a call wants the newest frame, never a backlog

    def __init__(self, options: VcamOptions | None = None, *, camera_factory: CameraFactory | None = None) -> None:
        self.options = options or VcamOptions()
        self._factory = camera_factory
        self._cam: Any = None
        self._dims: tuple[int, int] | None = None
        self.frames_sent = 0

    @property
    def device(self) -> str | None:
        """The device actually opened (e.g. ``/dev/video10``), once open."""
        return getattr(self._cam, "device", None) if self._cam is not None else None

    def open(self, info: StreamInfo) -> None:
        backend = self.options.backend
        if backend is not None and self._factory is None:
            known = available_backends()
            if backend not in known:
                raise SinkError(f"virtual camera backend {backend!r} is not available here; expected one of: "
                                f"{', '.join(known) or 'none'} ({device_hint()})")
        self.options.fps = float(info.fps) if info.fps else self.options.fps
        # I420 halves chroma both ways: an odd frame is padded by one row/column (see process()).
        size = even_size(info.width, info.height) if self.options.format is VcamFormat.I420 else info.size
        self._start(*size)

    def _start(self, width: int, height: int) -> None:
        import pyvirtualcam

        opts = self.options
        if opts.format is VcamFormat.I420 and (width % 2 or height % 2):
            raise SinkError(f"I420 needs an even frame size, got {width}x{height}")
        pf = pyvirtualcam.PixelFormat
        fmt = {VcamFormat.AUTO: pf.RGB, VcamFormat.RGB: pf.RGB, VcamFormat.BGR: pf.BGR,
               VcamFormat.I420: pf.I420}[opts.format]
        factory = self._factory or pyvirtualcam.Camera
        try:
            self._cam = factory(width=width, height=height, fps=opts.fps, fmt=fmt, device=opts.device,
                                backend=opts.backend, print_fps=False)
        except (RuntimeError, ValueError, OSError) as exc:
            what = f"{opts.backend or 'any backend'}" + (f", device {opts.device}" if opts.device else "")
            reason = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise SinkError(f"no virtual camera ({what}, {width}x{height} @ {opts.fps:g} fps): {reason}; "
                            f"{device_hint()}") from exc
        self._dims = (width, height)

    def process(self, frame: Frame) -> None:
        image = frame.result
        assert self._cam is not None, "open() first"
        if self.options.format is VcamFormat.I420:
            image = pad_to_even(image)
        try:
            self._cam.send(convert_for_vcam(image, self.options.format))
        except (RuntimeError, ValueError) as exc:
            raise SinkError(f"virtual camera {self.device or ''} rejected frame {frame.index}: {exc}") from exc
        self.frames_sent += 1

    def close(self) -> None:
        if self._cam is not None:
            cam, self._cam = self._cam, None
            cam.close()
