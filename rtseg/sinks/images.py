"""Per-frame image outputs: mask PNGs and RGBA/RGB PNG folders."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from rtseg.effects.cutout import alpha_to_u8
from rtseg.errors import SinkError
from rtseg.frame import Frame
from rtseg.graph.stage import SinkStage
from rtseg.sinks.atomic import AtomicDir

PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]


def frame_filename(frame: Frame, suffix: str = ".png") -> str:
    """``00000.png`` for an image named ``00000.jpg``; ``000042.png`` for video frame 42."""
    return f"{frame.name}{suffix}" if frame.name is not None else f"{frame.index:06d}{suffix}"


class _PngFolderSink(SinkStage):
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._atomic = AtomicDir(self.directory)
        self._tmp: Path | None = None
        self.written = 0

    def open(self) -> None:
        self._tmp = self._atomic.open()

    def _write(self, frame: Frame, image: np.ndarray) -> None:
        assert self._tmp is not None, "open() first"
        path = self._tmp / frame_filename(frame)
        if not cv2.imwrite(str(path), image, PNG_FAST):
            raise SinkError(f"cannot write {path}")
        self.written += 1

    def finish(self) -> None:
        self._atomic.commit()
        self._tmp = None

    def close(self) -> None:
        self._atomic.discard()
        self._tmp = None


class MaskSink(_PngFolderSink):
    """One 8-bit grey PNG per frame: alpha 0..1 scaled to 0..255."""

    name = "masks"

    def process(self, frame: Frame) -> None:
        if frame.alpha is None:
            raise SinkError("mask sink got a frame without alpha")
        self._write(frame, alpha_to_u8(np.clip(frame.alpha, 0.0, 1.0)))


class PngFolderSink(_PngFolderSink):
    """One PNG per frame of the composite (RGBA for cutout, RGB otherwise)."""

    name = "png"

    def process(self, frame: Frame) -> None:
        image = frame.result
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        self._write(frame, cv2.cvtColor(image, code))
