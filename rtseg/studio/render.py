"""What the page draws: a frame as JPEG, and the masks on a frame as a transparent PNG overlay."""

from __future__ import annotations

import cv2
import numpy as np

from rtseg.errors import ConfigError
from rtseg.sinks.images import davis_palette
from rtseg.studio.media import FrameStore

PALETTE = np.array(davis_palette(), np.uint8).reshape(256, 3)
"""Object id → RGB, the DAVIS colours the masks export uses."""
OVERLAY_ALPHA = 140
"""Opacity of an object in the overlay (55 %)."""


def frame_jpeg(frames: FrameStore, index: int, width: int | None = None) -> bytes:
    """Frame ``index`` as JPEG (quality 90), scaled down to ``width`` pixels if it is wider."""
    if width is not None and width < 1:  # before the frame is decoded
        raise ConfigError(f"width must be at least 1 pixel, got {width}")
    rgb = frames.get(index)
    if width is not None and width < rgb.shape[1]:
        rgb = cv2.resize(rgb, (width, round(rgb.shape[0] * width / rgb.shape[1])), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def overlay_png(ids: np.ndarray | None, height: int, width: int) -> bytes:
    """An (H, W) map of object ids (None: nothing known, all transparent) as an RGBA PNG, each object
    in its DAVIS colour at :data:`OVERLAY_ALPHA`."""
    rgba = np.zeros((height, width, 4), np.uint8)
    if ids is not None:
        rgba[..., :3] = PALETTE[ids]
        rgba[..., 3] = np.where(ids > 0, OVERLAY_ALPHA, 0).astype(np.uint8)
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    return data.tobytes()
