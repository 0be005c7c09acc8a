"""Carry a mask forward to a later frame with dense optical flow (OpenCV DIS).

When inference is slower than the camera, the newest mask belongs to an older frame. Holding it
stale makes the cut-out lag behind the person; rtseg moves it with the image instead. The flow is
computed backwards, from the current frame to the mask's frame, on small grey images (DIS at
about 320 px wide is well under a millisecond here), so every output pixel looks up where it came
from (``cv2.remap``): no holes, no splatting. Flow is chained frame to frame and composed, so each
new frame costs one small flow and one composition, and the mask is resampled only once from its
own frame (no blur accumulating over a chain of warps).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FLOW_WIDTH = 320


@dataclass
class CarryOptions:
    flow_width: int = FLOW_WIDTH
    """Width of the grey images the flow is computed on."""
    preset: int = cv2.DISOPTICAL_FLOW_PRESET_FAST


def _grey(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = (width, max(1, round(h * width / w))) if w > width else (w, h)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if size != (w, h) else image
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small


class FlowCarrier:
    """Holds the newest mask and moves it to each new frame.

    ``set_key(image, mask)`` when a fresh mask arrives for ``image``; ``carry(image)`` for every
    later frame returns the mask moved onto it. ``age`` counts frames since the key.

    >>> import numpy as np
    >>> img = np.zeros((90, 160, 3), np.uint8); img[30:60, 40:80] = 255
    >>> mask = np.zeros((90, 160), np.float32); mask[30:60, 40:80] = 1
    >>> c = FlowCarrier(); c.set_key(img, mask)
    >>> moved = np.roll(img, 6, axis=1)
    >>> out = c.carry(moved)
    >>> bool(out[45, 82] > 0.5), bool(out[45, 41] < 0.5), c.age
    (True, True, 1)
    """

    def __init__(self, options: CarryOptions | None = None) -> None:
        self.options = options or CarryOptions()
        self._dis = cv2.DISOpticalFlow_create(self.options.preset)  # type: ignore[attr-defined]
        self._key_mask: np.ndarray | None = None
        self._prev_grey: np.ndarray | None = None
        self._map_x: np.ndarray | None = None  # current-frame pixel → key-frame position (flow res)
        self._map_y: np.ndarray | None = None
        self.age = 0

    @property
    def has_key(self) -> bool:
        return self._key_mask is not None

    def set_key(self, image: np.ndarray, mask: np.ndarray) -> None:
        grey = _grey(image, self.options.flow_width)
        self._key_mask = mask.astype(np.float32, copy=False)
        self._prev_grey = grey
        h, w = grey.shape
        self._map_x, self._map_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        self.age = 0

    def carry(self, image: np.ndarray) -> np.ndarray:
        """The key mask moved onto ``image`` (at the key mask's resolution)."""
        if self._key_mask is None or self._prev_grey is None or self._map_x is None or self._map_y is None:
            raise RuntimeError("FlowCarrier.carry() before set_key()")
        grey = _grey(image, self.options.flow_width)
        if grey.shape != self._prev_grey.shape:
            raise ValueError(f"frame size changed: {grey.shape} != {self._prev_grey.shape}")
        # Backward flow: for each pixel of the current frame, where it was in the previous frame.
        flow = self._dis.calc(grey, self._prev_grey, None)
        h, w = grey.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        px, py = gx + flow[..., 0], gy + flow[..., 1]
        # Compose: current → previous (flow), previous → key (stored maps).
        self._map_x = cv2.remap(self._map_x, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._map_y = cv2.remap(self._map_y, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._prev_grey = grey
        self.age += 1
        mh, mw = self._key_mask.shape
        sx, sy = mw / w, mh / h
        mx: np.ndarray
        my: np.ndarray
        if (mw, mh) != (w, h):
            mx = cv2.resize(self._map_x, (mw, mh), interpolation=cv2.INTER_LINEAR) * np.float32(sx)
            my = cv2.resize(self._map_y, (mw, mh), interpolation=cv2.INTER_LINEAR) * np.float32(sy)
            # Pixel centres: (x + 0.5) * s - 0.5 keeps the grids aligned.
            mx += np.float32(0.5 * sx - 0.5)
            my += np.float32(0.5 * sy - 0.5)
        else:
            mx, my = self._map_x, self._map_y
        return cv2.remap(self._key_mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
