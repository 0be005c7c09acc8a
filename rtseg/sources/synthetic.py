"""A deterministic synthetic test pattern: moving shapes over a gradient, for tests and benchmarks."""

from __future__ import annotations

import math
from fractions import Fraction

import cv2
import numpy as np

from rtseg.frame import Frame, StreamInfo
from rtseg.graph.stage import SourceStage


class SyntheticSource(SourceStage):
    """``frames`` frames of ``width`` x ``height`` at ``fps``: a gradient with a moving disc and box.

    Frame ``i`` is a pure function of ``i`` (same pixels on every run).
    """

    name = "source"

    def __init__(self, width: int = 1280, height: int = 720, *, frames: int = 300, fps: float = 30.0) -> None:
        self.width = width
        self.height = height
        self.frames = frames
        self.fps = Fraction(fps).limit_denominator(1001)
        self.time_base = 1 / self.fps
        self.declared_frames = frames
        self.has_audio = False
        self._index = 0
        self._background: np.ndarray | None = None

    def open(self) -> StreamInfo:
        x = np.linspace(0, 255, self.width, dtype=np.float32)
        y = np.linspace(0, 255, self.height, dtype=np.float32)
        bg = np.empty((self.height, self.width, 3), np.uint8)
        bg[..., 0] = x[None, :].astype(np.uint8)
        bg[..., 1] = y[:, None].astype(np.uint8)
        bg[..., 2] = 96
        # Texture, so that blurring visibly changes the background.
        bg[::16, :, :] = 255
        bg[:, ::16, :] = 255
        self._background = bg
        self._index = 0
        return StreamInfo(self.width, self.height, self.fps, self.time_base, self.frames,
                          label=f"synthetic:{self.width}x{self.height}@{self.frames}")

    def render(self, i: int) -> np.ndarray:
        assert self._background is not None, "open() first"
        img = self._background.copy()
        w, h = self.width, self.height
        t = i / float(self.fps)
        cx = int(w * (0.5 + 0.3 * math.sin(t)))
        cy = int(h * (0.5 + 0.2 * math.cos(1.3 * t)))
        cv2.circle(img, (cx, cy), max(4, h // 6), (230, 180, 140), -1, lineType=cv2.LINE_AA)
        bx = int((w * 0.1 + i * 7) % (w * 0.8))
        cv2.rectangle(img, (bx, h // 8), (bx + w // 10, h // 8 + h // 6), (40, 40, 200), -1)
        return img

    def read(self) -> Frame | None:
        if self._index >= self.frames:
            return None
        frame = Frame(self.render(self._index), index=self._index, pts=self._index, time_base=self.time_base)
        self._index += 1
        return frame
