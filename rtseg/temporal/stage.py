"""The mask stages: temporal smoothing + edge refinement, and optical-flow carry-forward."""

from __future__ import annotations

import cv2
import numpy as np

from rtseg.errors import PipelineError
from rtseg.frame import NEWEST_MASK, UNCHANGED, Frame, MaskState, StreamInfo
from rtseg.graph.stage import ProcessStage
from rtseg.imaging import upsample_alpha
from rtseg.imaging.refine import RefineOptions, refine_alpha
from rtseg.temporal.carry import HISTORY, LIVE_MASK_WIDTH, Carrier, CarryKey, CarryOptions
from rtseg.temporal.smoothing import SmoothingMode, SmoothingOptions, TemporalSmoother

CARRY_AGE = "carry_age"
"""``Frame.extras`` key: frames between the frame and its mask's own frame (0: its own mask)."""


class MaskPath:
    """Smoothing at the working resolution, then refinement to the frame's size: raw alpha in, final out.

    Used by the mask stage on files and, live, inside the inference worker (so the smoothing history
    follows the frames that were actually segmented).
    """

    def __init__(self, smoothing: SmoothingOptions | None = None, refine: RefineOptions | None = None) -> None:
        self.smoother = TemporalSmoother(smoothing)
        self.refine = refine or RefineOptions()

    def reset(self) -> None:
        self.smoother.reset()

    def apply(self, alpha: np.ndarray, image: np.ndarray) -> np.ndarray:
        grey = None
        if self.smoother.options.mode is SmoothingMode.MOTION:
            # Motion is judged on a grey image at half the mask's resolution: cheap and enough.
            ah, aw = alpha.shape
            small = cv2.resize(image, (max(1, aw // 2), max(1, ah // 2)), interpolation=cv2.INTER_LINEAR)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        return refine_alpha(self.smoother.apply(alpha, grey), image, self.refine)


class MaskStage(ProcessStage):
    """Turns the segmenter's alpha (any resolution) into the final frame-size alpha the composite uses."""

    name = "mask"

    def __init__(self, smoothing: SmoothingOptions | None = None, refine: RefineOptions | None = None,
                 *, pass_through_missing: bool = False) -> None:
        self.path = MaskPath(smoothing, refine)
        self.pass_through_missing = pass_through_missing

    def open(self, info: StreamInfo) -> None:
        self.path.reset()

    def process(self, frame: Frame) -> Frame:
        if frame.alpha is None:
            if self.pass_through_missing:
                return frame  # a frame without inference: the carry stage fills it in
            raise PipelineError("mask stage got a frame without alpha; is a segment stage missing?")
        frame.alpha = self.path.apply(frame.alpha, frame.image)
        return frame


class CarryStage(ProcessStage):
    """Gives every frame a mask moved onto it by optical flow from the newest mask's own frame.

    Files (``live=False``): a frame with alpha (an inferred frame) becomes the new key; frames
    without alpha get the key moved onto them. A fresh key that replaces a carried one is blended
    half-and-half with it on its own frame, so the mask does not jump (``blend_frames=1``).

    Live (``live=True``): every frame carries the newest mask the segment stage attached (its own
    or an older frame's); the carrier keeps every frame's small grey image, so a mask that arrives
    many frames after its own frame catches up at once (the inference worker does that catch-up
    through :meth:`prepare`, off the camera path). A fresh mask fades in over ``blend_frames``
    frames. With ``enabled=False`` the mask is held as it is (the stale baseline).

    The age of each frame's mask is recorded in ``ages`` and ``frame.extras["carry_age"]``.
    """

    name = "carry"

    def __init__(self, *, live: bool = False, enabled: bool = True, options: CarryOptions | None = None,
                 mask_width: int | None = None, blend_frames: int | None = None, history: int = HISTORY) -> None:
        self.live = live
        self.enabled = enabled
        self.options = options or CarryOptions()
        self.mask_width = mask_width if mask_width is not None else (LIVE_MASK_WIDTH if live else None)
        self.blend_frames = blend_frames if blend_frames is not None else (2 if live else 1)
        self.history = history
        self.ages: list[int] = []
        self.keys = 0
        """Fresh masks taken as the new key."""
        self.carried_frames = 0
        """Frames whose mask was moved by flow (age > 0)."""
        self.held_frames = 0
        """Frames the change gate marked unchanged: the last mask was held on them, unmoved."""
        self.carrier: Carrier | None = None
        self._key: object | None = None
        self._last_alpha: np.ndarray | None = None
        self._moved_last = False

    def open(self, info: StreamInfo) -> None:
        w, h = info.size
        mw = self.mask_width
        mask_size = (mw, max(1, round(h * mw / w))) if mw is not None and w > mw else None
        self.carrier = Carrier(self.options, mask_size=mask_size, history=self.history,
                               blend_frames=self.blend_frames, blend_min_age=2 if self.live else 1)
        self._key = None
        self.ages = []
        self._last_alpha = None
        self._moved_last = False

    def process(self, frame: Frame) -> Frame:
        return self._live(frame) if self.live else self._file(frame)

    def _file(self, frame: Frame) -> Frame:
        carrier = self.carrier
        assert carrier is not None, "open() first"
        carrier.push(frame.image, frame.index)
        moved = False
        if frame.alpha is not None:
            # Fade from the old key only if it was shown moved by flow (infer_every K); a held mask
            # or the previous frame's own mask is replaced as it is.
            carrier.set_key(frame.index, frame.alpha, blend=self._moved_last)
            self.keys += 1
            if carrier.blending:
                frame.alpha = upsample_alpha(carrier.current(), frame.width, frame.height)
        elif not carrier.has_key:
            raise PipelineError("carry stage got a frame without alpha before any inferred frame")
        elif frame.extras.get(UNCHANGED) and self._last_alpha is not None:
            frame.alpha = self._last_alpha  # nothing changed since the last segmented frame: hold it
            self.held_frames += 1
        else:
            frame.alpha = upsample_alpha(carrier.current(), frame.width, frame.height)
            self.carried_frames += 1
            moved = True
        self._moved_last = moved
        self._last_alpha = frame.alpha
        self._record(frame, carrier.age)
        return frame

    def _live(self, frame: Frame) -> Frame:
        mask: MaskState | None = frame.extras.get(NEWEST_MASK)
        if not self.enabled:
            if mask is not None:
                self._record(frame, max(0, frame.index - mask.index))
            return frame
        carrier = self.carrier
        assert carrier is not None, "open() first"
        carrier.push(frame.image, frame.index)
        if mask is None:
            return frame
        if mask is not self._key or not carrier.has_key:
            prepared = mask.prepared
            key = prepared[1] if isinstance(prepared, tuple) and prepared[0] is carrier else mask.alpha
            # Fade from the old mask only if it was being moved by flow; a held one is replaced as it is
            # (a fade would first move it through every frame it was held on).
            carrier.set_key(min(mask.index, frame.index), key, blend=self._moved_last)
            self._key = mask
            self.keys += 1
        age = carrier.age
        self._moved_last = False
        if age == 0 and not carrier.blending:
            frame.alpha = mask.alpha  # the frame's own mask, untouched
        elif frame.extras.get(UNCHANGED) and mask is self._key and self._last_alpha is not None \
                and not carrier.blending:
            frame.alpha = self._last_alpha  # the change gate saw no change: hold the last output
            self.held_frames += 1
        else:
            frame.alpha = upsample_alpha(carrier.current(), frame.width, frame.height)
            self.carried_frames += age > 0
            self._moved_last = age > 0
        self._last_alpha = frame.alpha
        self._record(frame, age)
        return frame

    def prepare(self, index: int, alpha: np.ndarray) -> tuple[Carrier, CarryKey] | None:
        """The catch-up of a new mask over the frames seen so far, for the inference worker to run."""
        carrier = self.carrier
        if not self.enabled or carrier is None:
            return None
        try:
            return carrier, carrier.prepare_key(index, alpha)
        except (RuntimeError, ValueError):
            return None

    def _record(self, frame: Frame, age: int) -> None:
        frame.extras[CARRY_AGE] = age
        self.ages.append(age)
