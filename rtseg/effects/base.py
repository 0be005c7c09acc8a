"""The Effect protocol and the stage that applies one."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from rtseg.errors import PipelineError
from rtseg.frame import Frame
from rtseg.graph.stage import ProcessStage


class Effect(Protocol):
    """Image + alpha in, output image out (RGB uint8, or RGBA uint8 for cutout)."""

    name: str
    channels: int
    """3 for RGB output, 4 for RGBA (cutout)."""

    def open(self) -> None: ...

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


class EffectStage(ProcessStage):
    """Applies an :class:`Effect` to frames that carry an alpha."""

    name = "composite"

    def __init__(self, effect: Effect) -> None:
        self.effect = effect
        self._open = False

    def open(self) -> None:
        self.effect.open()
        self._open = True

    def process(self, frame: Frame) -> Frame:
        if frame.alpha is None:
            raise PipelineError("composite stage got a frame without alpha; is a segment stage missing?")
        frame.output = self.effect.apply(frame.image, frame.alpha)
        return frame

    def close(self) -> None:
        if self._open:
            self._open = False
            self.effect.close()
