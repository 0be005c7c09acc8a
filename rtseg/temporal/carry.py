"""Carry a mask forward to a later frame with dense optical flow (OpenCV DIS).

When inference is slower than the camera (or runs on every K-th frame of a file), the newest mask
belongs to an older frame. Holding it stale makes the cut-out lag behind the person; rtseg moves it
with the image instead, with one :class:`Carrier` for files and live input. The flow is
computed backwards, from the current frame to the mask's frame, on small grey images (DIS at
about 320 px wide is well under a millisecond here), so every output pixel looks up where it came
from (``cv2.remap``): no holes, no splatting. Flow is chained frame to frame and composed, so each
new frame costs one small flow and one composition, and the mask is resampled only once from its
own frame (no blur accumulating over a chain of warps).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rtseg.imaging import shrink

FLOW_WIDTH = 640
"""Width of the grey images the flow is computed on, files and live (the job key ``mask.carry.flow_width``)."""
PRESET = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST
"""DIS optical flow's preset, files and live."""
LIVE_MASK_WIDTH = 320
"""Width a live mask is moved at (the frame's width on files)."""
HISTORY = 96
"""Frames of flow kept, so a mask this many frames late can still be moved (``mask.carry.history``)."""


@dataclass
class CarryOptions:
    """Optical-flow settings. On DAVIS (``benchmarks/carry.py``) DIS ULTRAFAST at 640 px beats FAST
    at 320 px for about 2 ms more per frame here: files at K = 4, mean IoU 0.922 against 0.888; live
    (masks K..2K-1 frames old) at K = 4, 0.760 against 0.683 (stale: 0.653). Files and live use it."""

    flow_width: int = FLOW_WIDTH
    """Width of the grey images the flow is computed on."""
    preset: int = PRESET


def _grey(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    size = (width, max(1, round(h * width / w))) if w > width else (w, h)
    # Grey first, then shrink: one channel to average instead of three (about 1.5x faster at 720p).
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA) if size != (w, h) else grey


def _compose(map_x: np.ndarray, map_y: np.ndarray, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``map ∘ p``: look the stored map (previous frame → key) up at each pixel's previous position."""
    return (cv2.remap(map_x, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
            cv2.remap(map_y, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def _scale_map(map_x: np.ndarray, map_y: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A map at flow resolution resized to ``size`` (w, h), its values in that grid's pixels."""
    h, w = map_x.shape
    mw, mh = size
    if (mw, mh) == (w, h):
        return map_x, map_y
    sx, sy = mw / w, mh / h
    mx = cv2.resize(map_x, (mw, mh), interpolation=cv2.INTER_LINEAR) * np.float32(sx)
    my = cv2.resize(map_y, (mw, mh), interpolation=cv2.INTER_LINEAR) * np.float32(sy)
    # Pixel centres: (x + 0.5) * s - 0.5 keeps the grids aligned.
    mx += np.float32(0.5 * sx - 0.5)
    my += np.float32(0.5 * sy - 0.5)
    return mx, my


@dataclass(slots=True)
class _Step:
    """One pushed frame: its grey image, the previous one's, and (once computed) the backward flow
    as absolute lookup positions: where each pixel of frame ``index`` was in frame ``prev``."""

    index: int
    prev: int
    grey: np.ndarray
    prev_grey: np.ndarray
    px: np.ndarray | None = None
    py: np.ndarray | None = None


@dataclass
class CarryKey:
    """A mask and the map from the newest frame it was brought up to (``through``) to its own frame.

    Made by :meth:`Carrier.prepare_key` (may run in another thread, e.g. the inference worker,
    so the catch-up over many frames is not paid on the camera path) or inside ``set_key``.
    """

    mask: np.ndarray
    index: int
    through: int
    """The map is valid for frame ``through``: pixel there → position in frame ``index``."""
    map_x: np.ndarray | None = None  # None: identity (through == index), made when first needed
    map_y: np.ndarray | None = None
    epoch: int = 0
    found: bool = True


class Carrier:
    """Moves a mask from its own frame onto the newest frame (files with ``--infer-every K``, and live).

    Live, the newest mask belongs to a frame the camera delivered a while ago (SAM 2 takes most of a
    second here); on files it belongs to the last inferred frame. Every frame is ``push``-ed; its
    small grey image is kept for the last ``history`` frames. When a mask for an older frame
    arrives, ``set_key(index, mask)`` and the next ``current()`` compose the backward flows (DIS)
    from that frame up to the newest one (the frames in between were already seen, so the mask
    catches up at once); later frames add one flow and one composition each. ``current()`` is the
    key mask moved onto the newest frame, at ``mask_size``. A mask whose own frame is the newest is
    returned untouched, and flow is only computed when a mask has to move, so a segmenter that
    keeps up costs one grey image per frame. :meth:`prepare_key` does the catch-up ahead of time
    from one other thread (the inference worker, with its own DIS instance), off the camera path.

    A new key does not replace a carried one abruptly: for ``blend_frames`` frames the output goes
    linearly from the old carried mask to the new one (both moved by flow), so a fresh mask that
    disagrees with the carried one does not jump.

    >>> import numpy as np
    >>> img = np.zeros((90, 160, 3), np.uint8); img[30:60, 40:80] = 255
    >>> mask = np.zeros((90, 160), np.float32); mask[30:60, 40:80] = 1
    >>> c = Carrier()
    >>> c.push(img, 0); c.push(np.roll(img, 6, axis=1), 1)
    >>> c.set_key(0, mask)          # a mask for frame 0 arrives while frame 1 is the newest
    True
    >>> out = c.current()
    >>> bool(out[45, 82] > 0.5), bool(out[45, 41] < 0.5), c.age
    (True, True, 1)
    """

    def __init__(self, options: CarryOptions | None = None, *, mask_size: tuple[int, int] | None = None,
                 history: int = HISTORY, blend_frames: int = 2, blend_min_age: int = 2) -> None:
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        if blend_frames < 0:
            raise ValueError(f"blend_frames must be >= 0, got {blend_frames}")
        self.options = options or CarryOptions()
        self.mask_size = mask_size
        """(w, h) the key masks are moved at; None: each key's own resolution."""
        self.history = history
        self.blend_frames = blend_frames
        self.blend_min_age = blend_min_age
        """Blend only when the replaced mask had been carried at least this many frames (a mask
        stream that keeps up, one per frame, is used as it is)."""
        self._dis = cv2.DISOpticalFlow_create(self.options.preset)  # type: ignore[attr-defined]
        self._dis_prepare = cv2.DISOpticalFlow_create(self.options.preset)  # type: ignore[attr-defined]
        self._grey: np.ndarray | None = None
        self._index: int | None = None
        # Only ever appended to / popped from the left, so prepare_key's thread may copy it.
        self._steps: deque[_Step] = deque()
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._epoch = 0  # bumped when the history restarts (frame size changed)
        self._key: CarryKey | None = None
        self._old: CarryKey | None = None  # the previous key, still shown while blending
        self._blend_step = 0
        self.too_old = 0
        """Keys older than the flow history (used unmoved)."""

    @property
    def has_key(self) -> bool:
        return self._key is not None

    @property
    def key_index(self) -> int | None:
        return None if self._key is None else self._key.index

    @property
    def age(self) -> int:
        """Frames between the newest pushed frame and the key mask's own frame."""
        if self._key is None or self._index is None:
            return 0
        return max(0, self._index - self._key.index)

    @property
    def blending(self) -> bool:
        return self._old is not None

    def push(self, image: np.ndarray, index: int) -> None:
        """A new camera frame (indices increase; gaps are fine: the flow spans them)."""
        grey = _grey(image, self.options.flow_width)
        if self._grey is None or grey.shape != self._grey.shape or self._index is None:
            # First frame, or the camera came back at another size: start over (keys are dropped).
            h, w = grey.shape
            self._grid = (np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
            self._steps.clear()
            self._epoch += 1
            self._key = self._old = None
        else:
            self._steps.append(_Step(index, self._index, grey, self._grey))
            while len(self._steps) > self.history:
                self._steps.popleft()
            if self._old is not None:
                self._blend_step += 1
                if self._blend_step >= self.blend_frames:
                    self._old = None
        self._grey = grey
        self._index = index

    def _resized(self, mask: np.ndarray) -> np.ndarray:
        mask = mask.astype(np.float32, copy=False)
        if self.mask_size is not None and (mask.shape[1], mask.shape[0]) != self.mask_size:
            mask = shrink(mask, *self.mask_size)
        return mask

    def _flow(self, step: _Step, dis: Any) -> tuple[np.ndarray, np.ndarray]:
        px, py = step.px, step.py
        if px is None or py is None:
            grid = self._grid
            assert grid is not None
            flow = dis.calc(step.grey, step.prev_grey, None)
            px, py = grid[0] + flow[..., 0], grid[1] + flow[..., 1]
            step.px, step.py = px, py  # computed by either thread, the same either way
        return px, py

    def _catch_up(self, key: CarryKey, dis: Any = None) -> None:
        """Compose the flows of the frames after ``key.through`` into the key's map."""
        steps = list(self._steps)  # a snapshot: push() may append meanwhile (prepare_key's thread)
        if not steps or steps[-1].index <= key.through:
            return
        if key.through < steps[0].prev:
            key.found = False  # its frames left the history: stays where it is
            return
        grid = self._grid
        assert grid is not None
        mx, my = (grid[0].copy(), grid[1].copy()) if key.map_x is None else (key.map_x, key.map_y)
        assert my is not None
        for step in steps:
            if step.index > key.through:
                mx, my = _compose(mx, my, *self._flow(step, dis or self._dis))
        key.map_x, key.map_y, key.through = mx, my, steps[-1].index

    def prepare_key(self, index: int, mask: np.ndarray) -> CarryKey:
        """Resize ``mask`` (frame ``index``) and move it through the flows seen so far. Safe to call
        from another thread while ``push`` runs; hand the result to :meth:`set_key`."""
        key = CarryKey(self._resized(mask), index, index, epoch=self._epoch)
        if self._grid is not None:
            self._catch_up(key, self._dis_prepare)
        return key

    def set_key(self, index: int, mask: np.ndarray | CarryKey, *, blend: bool = True) -> bool:
        """A fresh mask (any resolution, or a :meth:`prepare_key` result) for frame ``index`` (<= the
        newest pushed frame). False if its frame is older than the flow history: the mask is then
        used unmoved (counted in ``too_old``). ``blend=False``: no fade from the previous key (it was
        not shown moved: the caller held it unmoved, or it is the previous frame's own mask)."""
        if self._index is None or self._grid is None:
            raise RuntimeError("Carrier.set_key() before any push()")
        if index > self._index:
            raise ValueError(f"mask for frame {index} is newer than the newest frame {self._index}")
        if isinstance(mask, CarryKey) and mask.epoch == self._epoch and mask.index == index:
            key = mask
        else:
            key = CarryKey(self._resized(mask.mask if isinstance(mask, CarryKey) else mask), index, index,
                           epoch=self._epoch)
        oldest = self._steps[0].prev if self._steps else self._index
        if key.through < oldest and key.through != self._index:
            key.found = False
        if not key.found:
            self.too_old += 1
        if blend and self.blend_frames > 0 and self._key is not None and self.age >= self.blend_min_age:
            self._old, self._blend_step = self._key, 0
        else:
            self._old = None
        self._key = key
        return key.found

    def _moved(self, key: CarryKey) -> np.ndarray:
        if self._index == key.index or not key.found:
            return key.mask
        self._catch_up(key)
        if key.map_x is None or key.map_y is None:
            return key.mask
        h, w = key.mask.shape
        mx, my = _scale_map(key.map_x, key.map_y, (w, h))
        return cv2.remap(key.mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def current(self) -> np.ndarray:
        """The key mask moved onto the newest frame, blended with the previous key while a new one
        fades in (at ``mask_size``, or the key's own resolution when ``mask_size`` is None)."""
        if self._key is None:
            raise RuntimeError("Carrier.current() before set_key()")
        out = self._moved(self._key)
        if self._old is not None:
            old = self._moved(self._old)
            if old.shape != out.shape:
                out = cv2.resize(out, (old.shape[1], old.shape[0]), interpolation=cv2.INTER_AREA)
            w = (self._blend_step + 1) / (self.blend_frames + 1)
            out = cv2.addWeighted(out.astype(np.float32, copy=False), w, old, 1 - w, 0.0)
        return out
