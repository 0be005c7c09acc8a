"""Region-of-interest refinement: run the segmenter again on a crop around the person.

The selfie models see a whole 720p frame at 256x144, so a person who fills a third of the frame is
segmented at roughly 80 pixels tall: limbs vanish and edges are blocky. Like MediaPipe's pose-guided
segmentation, rtseg tracks a region of interest: the bounding box of the previous mask, widened by
``margin``, is cropped square and segmented at the model's full 256x256, then pasted back. A
full-frame pass runs on the first frame, every ``redetect_every`` frames, whenever the crop's mask
touches the crop border (the person is leaving the box) and whenever the box is empty, so new people
are found. Most frames therefore cost one model run, as without ROI.

Measured on DAVIS lucia / dance-twirl (``benchmarks/quality.py``): region IoU 0.82 → 0.89 and
0.64 → 0.74, boundary F +0.05 and +0.11 against the full-frame model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.segment.selfie import SelfieRuntime, SelfieSegmenter, SelfieVariant

WORK_LONG_SIDE = 480
"""Masks are assembled at most this wide/tall; the mask stage upsamples to the frame once.
DAVIS quality (benchmarks/quality.py) is the same at 400, 480 and 640; 480 costs half of 640."""


def work_size(width: int, height: int, long_side: int = WORK_LONG_SIDE) -> tuple[int, int]:
    """(w, h) of the working mask resolution for a frame.

    >>> work_size(1280, 720), work_size(320, 240)
    ((480, 270), (320, 240))
    """
    scale = min(1.0, long_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def square_box(mask: np.ndarray, margin: float, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """Square box (x, y, side, side) around the foreground of ``mask``, grown by ``margin`` per side.

    The margin shrinks where the frame is too small for it. None when there is no foreground, or
    when the foreground is wider or taller than the frame's short side (a person filling a wide
    frame: a square crop would cut them off).

    >>> import numpy as np
    >>> m = np.zeros((100, 200), np.float32); m[40:60, 90:110] = 1
    >>> square_box(m, 0.25)
    (85, 35, 30, 30)
    """
    h, w = mask.shape
    fg = mask > threshold
    if not fg.any():
        return None
    xs = np.flatnonzero(fg.any(axis=0))
    ys = np.flatnonzero(fg.any(axis=1))
    x0, x1, y0, y1 = xs[0], xs[-1] + 1, ys[0], ys[-1] + 1
    extent = max(x1 - x0, y1 - y0)
    if extent > min(w, h):
        return None
    side = round(min(extent * (1 + 2 * margin), w, h))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bx = int(np.clip(round(cx - side / 2), 0, w - side))
    by = int(np.clip(round(cy - side / 2), 0, h - side))
    return bx, by, side, side


@dataclass
class RoiStats:
    full_passes: int = 0
    crop_passes: int = 0


class RoiSegmenter:
    """The selfie segmenter with region-of-interest tracking; returns alpha at the working resolution.

    >>> import numpy as np
    >>> with RoiSegmenter() as seg:  # doctest: +SKIP
    ...     seg.infer(np.zeros((720, 1280, 3), np.uint8)).shape
    (270, 480)
    """

    def __init__(self, variant: SelfieVariant | str = SelfieVariant.AUTO, *, margin: float = 0.15,
                 redetect_every: int = 15, model_path: str | None = None, model_sha256: str | None = None,
                 runtime: SelfieRuntime | str = SelfieRuntime.AUTO) -> None:
        self.variant = SelfieVariant(variant)
        self.margin = margin
        self.redetect_every = max(1, redetect_every)
        self.name = "selfie" if self.variant is SelfieVariant.AUTO else f"selfie-{self.variant.value}"
        self._full = SelfieSegmenter(self.variant, model_path, model_sha256, runtime=runtime)
        crop_variant = SelfieVariant.SQUARE if model_path is None else self.variant
        self._crop = SelfieSegmenter(crop_variant, model_path, model_sha256, runtime=runtime)
        self._prev: np.ndarray | None = None
        self._since_full = 0
        self.stats = RoiStats()

    def __enter__(self) -> RoiSegmenter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, info: StreamInfo | None = None) -> None:
        self._full.open()
        self._crop.open()
        self._prev = None
        self._since_full = 0

    def _full_pass(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        self.stats.full_passes += 1
        self._since_full = 0
        return cv2.resize(self._full.infer(image), size, interpolation=cv2.INTER_LINEAR)

    def segment(self, frame: Frame) -> MaskResult:
        return MaskResult(frame.index, self.infer(frame.image))

    def reset(self) -> None:
        """Forget the tracked region: the next frame gets a full-frame pass."""
        self._prev = None
        self._since_full = 0

    def infer(self, image: np.ndarray) -> np.ndarray:
        """Person alpha of an RGB uint8 image at the working resolution (:func:`work_size`)."""
        h, w = image.shape[:2]
        ww, wh = work_size(w, h)
        need_full = (self._prev is None or self._prev.shape != (wh, ww)
                     or self._since_full >= self.redetect_every - 1)
        full = self._full_pass(image, (ww, wh)) if need_full else None
        guide = full if full is not None else self._prev
        assert guide is not None
        box = square_box(guide, self.margin)
        if box is None:
            # Nobody found, or somebody too big for a crop: the full frame is the best estimate.
            if full is None:
                full = self._full_pass(image, (ww, wh))
                box = square_box(full, self.margin)
            if box is None:
                self._since_full += 1
                self._prev = full
                return full
        out = self._crop_pass(image, box, (ww, wh))
        if full is None and self._touches_border(out, box):
            full = self._full_pass(image, (ww, wh))
        if full is not None:
            # The crop is the better estimate inside the box; the full pass covers everything else.
            x, y, s, _ = box
            merged = full.copy()
            merged[y:y + s, x:x + s] = out[y:y + s, x:x + s]
            out = merged
        self._since_full += 1
        self._prev = out
        return out

    def _crop_pass(self, image: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
        self.stats.crop_passes += 1
        ww, wh = size
        h, w = image.shape[:2]
        x, y, s, _ = box
        sx, sy = w / ww, h / wh
        x0, y0 = round(x * sx), round(y * sy)
        x1, y1 = min(w, round((x + s) * sx)), min(h, round((y + s) * sy))
        crop = image[y0:y1, x0:x1]
        mask = self._crop.infer(crop)
        out = np.zeros((wh, ww), np.float32)
        out[y:y + s, x:x + s] = cv2.resize(mask, (s, s), interpolation=cv2.INTER_LINEAR)
        return out

    @staticmethod
    def _touches_border(mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        """True if the crop's foreground reaches a crop edge that is not also the frame's edge."""
        h, w = mask.shape
        x, y, s, _ = box
        edges = []
        if x > 0:
            edges.append(mask[y:y + s, x])
        if x + s < w:
            edges.append(mask[y:y + s, x + s - 1])
        if y > 0:
            edges.append(mask[y, x:x + s])
        if y + s < h:
            edges.append(mask[y + s - 1, x:x + s])
        return any(bool((e > 0.5).any()) for e in edges)

    def close(self) -> None:
        self._full.close()
        self._crop.close()
        self._prev = None
