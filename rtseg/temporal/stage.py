"""The mask stage: temporal smoothing at the working resolution, then refinement to frame size."""

from __future__ import annotations

import cv2
import numpy as np

from rtseg.effects.refine import RefineOptions, refine_alpha
from rtseg.errors import PipelineError
from rtseg.frame import Frame
from rtseg.graph.stage import ProcessStage
from rtseg.segment.base import Segmenter
from rtseg.temporal.carry import CarryOptions, FlowCarrier
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions, TemporalSmoother


class MaskStage(ProcessStage):
    """Turns the segmenter's alpha (any resolution) into the final frame-size alpha the composite uses."""

    name = "mask"

    def __init__(self, smoothing: SmoothingOptions | None = None, refine: RefineOptions | None = None,
                 *, pass_through_missing: bool = False) -> None:
        self.smoother = TemporalSmoother(smoothing)
        self.refine = refine or RefineOptions()
        self.pass_through_missing = pass_through_missing

    def open(self) -> None:
        self.smoother.reset()

    def process(self, frame: Frame) -> Frame:
        if frame.alpha is None:
            if self.pass_through_missing:
                return frame  # a frame without inference: the carry stage fills it in
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


class CarryStage(ProcessStage):
    """Fills frames that had no inference with the newest mask moved onto them by optical flow.

    A frame with an alpha becomes the new key; when it follows carried frames, its alpha is blended
    half-and-half with the carried prediction so a fresh mask does not jump. ``age`` of each frame
    (frames since its mask's own frame) is recorded in ``frame.extras["carry_age"]``.
    """

    name = "carry"

    def __init__(self, options: CarryOptions | None = None, *, blend_on_arrival: bool = True) -> None:
        self.options = options
        self.blend_on_arrival = blend_on_arrival
        self.carrier = FlowCarrier(options)
        self.ages: list[int] = []

    def open(self) -> None:
        self.carrier = FlowCarrier(self.options)
        self.ages = []

    def process(self, frame: Frame) -> Frame:
        if frame.alpha is not None:
            fresh = frame.alpha
            if self.blend_on_arrival and self.carrier.has_key and self.carrier.age > 0:
                try:
                    carried = self.carrier.carry(frame.image)
                except ValueError:  # frame size changed: nothing to blend with
                    carried = fresh
                if carried.shape == fresh.shape:
                    frame.alpha = cv2.addWeighted(fresh, 0.5, carried, 0.5, 0.0)
            self.carrier.set_key(frame.image, fresh)
            age = 0
        else:
            if not self.carrier.has_key:
                raise PipelineError("carry stage got a frame without alpha before any inferred frame")
            frame.alpha = self.carrier.carry(frame.image)
            age = self.carrier.age
        frame.extras["carry_age"] = age
        self.ages.append(age)
        return frame


class SmoothedSegmenter:
    """A segmenter followed by the mask stage (smoothing + refinement), as one ``Segmenter``.

    The live graph runs inference in a worker thread on the newest frame; wrapping the segmenter
    gives live output the same mask path as files (ROI pass, motion-aware smoothing, ramp) with the
    smoothing history following the frames that were actually segmented.
    """

    def __init__(self, inner: Segmenter, smoothing: SmoothingOptions | None = None,
                 refine: RefineOptions | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self._stage = MaskStage(smoothing, refine)

    def open(self) -> None:
        self.inner.open()
        self._stage.open()

    def segment(self, image: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        frame = Frame(image, 0, alpha=self.inner.segment(image, timestamp_ms))
        self._stage.process(frame)
        assert frame.alpha is not None
        return frame.alpha

    def close(self) -> None:
        self.inner.close()
