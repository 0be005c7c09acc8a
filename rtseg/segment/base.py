"""The Segmenter protocol and the stage that runs one."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from rtseg.frame import Frame
from rtseg.graph.stage import ProcessStage


@runtime_checkable
class Segmenter(Protocol):
    """Frame in, foreground alpha out.

    ``segment`` takes an RGB uint8 image (H, W, 3) and returns float32 alpha in 0..1 with shape
    (h, w), either at the model's resolution or at the frame's; :class:`SegmentStage` upsamples to
    the frame once. ``open``/``close`` load and free the model (``close`` idempotent).
    """

    name: str

    def open(self) -> None: ...

    def segment(self, image: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray: ...

    def close(self) -> None: ...


def upsample_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize alpha (float32, 0..1) to (height, width) with bilinear interpolation, once."""
    if alpha.ndim == 3:
        alpha = alpha[..., 0]
    if alpha.shape == (height, width):
        return np.ascontiguousarray(alpha, dtype=np.float32)
    return cv2.resize(alpha.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)


class SegmentStage(ProcessStage):
    """Runs a :class:`Segmenter` on each frame and stores its alpha (upsampled to the frame by default)."""

    name = "segment"

    def __init__(self, segmenter: Segmenter, *, upsample: bool = True, infer_every: int = 1) -> None:
        if infer_every < 1:
            raise ValueError(f"infer_every must be >= 1, got {infer_every}")
        self.segmenter = segmenter
        self.upsample = upsample
        self.infer_every = infer_every
        """Run the model on every K-th frame only; the frames between leave ``alpha`` None for the
        carry stage to fill (deterministic carry-forward on files)."""
        self._open = False

    def open(self) -> None:
        self.segmenter.open()
        self._open = True

    def process(self, frame: Frame) -> Frame:
        if frame.index % self.infer_every:
            frame.alpha = None
            return frame
        ts = frame.timestamp
        alpha = self.segmenter.segment(frame.image, None if ts is None else int(ts * 1000))
        if alpha.ndim == 3:
            alpha = alpha[..., 0]
        # Without upsampling the alpha stays at model/working resolution for the mask stage.
        frame.alpha = upsample_alpha(alpha, frame.width, frame.height) if self.upsample else alpha
        return frame

    def close(self) -> None:
        if self._open:
            self._open = False
            self.segmenter.close()
