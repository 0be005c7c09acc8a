"""The mask stage: temporal smoothing at the working resolution, then refinement to frame size."""

from __future__ import annotations

import cv2

from rtseg.effects.refine import RefineOptions, refine_alpha
from rtseg.errors import PipelineError
from rtseg.frame import Frame
from rtseg.graph.stage import ProcessStage
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions, TemporalSmoother


class MaskStage(ProcessStage):
    """Turns the segmenter's alpha (any resolution) into the final frame-size alpha the composite uses."""

    name = "mask"

    def __init__(self, smoothing: SmoothingOptions | None = None, refine: RefineOptions | None = None) -> None:
        self.smoother = TemporalSmoother(smoothing)
        self.refine = refine or RefineOptions()

    def open(self) -> None:
        self.smoother.reset()

    def process(self, frame: Frame) -> Frame:
        if frame.alpha is None:
            raise PipelineError("mask stage got a frame without alpha; is a segment stage missing?")
        alpha = frame.alpha
        grey = None
        if self.smoother.options.mode is SmoothingMode.MOTION:
            # Motion is judged on a grey image at half the mask's resolution: cheap and enough.
            ah, aw = alpha.shape
            small = cv2.resize(frame.image, (max(1, aw // 2), max(1, ah // 2)), interpolation=cv2.INTER_LINEAR)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        alpha = self.smoother.apply(alpha, grey)
        frame.alpha = refine_alpha(alpha, frame.image, self.refine)
        return frame
