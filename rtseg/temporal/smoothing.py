"""Temporal smoothing of alpha mattes, so masks do not flicker and fast motion does not ghost.

Three ingredients, combinable:

* ``ema``: ``a = w·new + (1-w)·previous`` everywhere (what most webcam tools do: one global weight
  trades flicker for ghosting).
* ``uncertainty``: MediaPipe's SegmentationSmoothingCalculator. Confident pixels (alpha near 0 or 1)
  follow the new mask; uncertain ones (near 0.5) lean on history by up to ``ratio``.
* ``motion``: where the image changed since the previous frame, history is not trusted (the weight
  on history falls to 0 as the grey-level change reaches ``motion_threshold``), so moving limbs do
  not leave a ghost.

All arithmetic is OpenCV on float32 at the mask's working resolution; the uncertainty curve is a
256-entry lookup table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np


class SmoothingMode(StrEnum):
    NONE = "none"
    EMA = "ema"
    UNCERTAINTY = "uncertainty"
    MOTION = "motion"
    """Uncertainty-weighted blending gated by image motion (the default)."""


# Polynomial fit of 1 - (1 - H(p))^2 (H: binary entropy) in (p - 0.5)^2, from MediaPipe's
# segmentation_smoothing_calculator.cc.
_C = (5.68842, -0.748699, -57.8051, 291.309, -624.717)


def uncertainty(p: np.ndarray) -> np.ndarray:
    """MediaPipe's uncertainty of a probability: 1 at p = 0.5, 0 at p = 0 or 1.

    >>> import numpy as np
    >>> [round(float(v), 3) for v in uncertainty(np.array([0.0, 0.5, 1.0]))]
    [0.0, 1.0, 0.0]
    """
    x = (p - 0.5) ** 2
    return 1.0 - np.minimum(1.0, x * (_C[0] + x * (_C[1] + x * (_C[2] + x * (_C[3] + x * _C[4])))))


_UNCERTAINTY_LUT = uncertainty(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)


@dataclass
class SmoothingOptions:
    mode: SmoothingMode = SmoothingMode.MOTION
    ratio: float = 0.7
    """Largest weight on history (uncertainty/motion modes); MediaPipe's selfie graph uses 0.7,
    rtseg's default mask config 0.85 (motion gating removes the ghosting that would otherwise cost)."""
    ema_weight: float = 0.5
    """Weight of the new mask in ``ema`` mode."""
    motion_threshold: float = 120.0
    """Grey-level change (0..255, blurred) at which history is ignored entirely."""
    low: float = 0.0
    high: float = 1.0
    """Optional linear ramp applied after blending: alpha below ``low`` → 0, above ``high`` → 1, linear
    in between (so soft edges stay soft). ``(0, 1)`` disables it."""


class TemporalSmoother:
    """Stateful smoother; feed masks of one stream in order with :meth:`apply`.

    >>> import numpy as np
    >>> s = TemporalSmoother(SmoothingOptions(SmoothingMode.EMA, ema_weight=0.5))
    >>> grey = np.zeros((2, 2), np.uint8)
    >>> _ = s.apply(np.zeros((2, 2), np.float32), grey)
    >>> float(s.apply(np.ones((2, 2), np.float32), grey)[0, 0])
    0.5
    """

    def __init__(self, options: SmoothingOptions | None = None) -> None:
        self.options = options or SmoothingOptions()
        o = self.options
        self._lut = _UNCERTAINTY_LUT * np.float32(o.ratio)
        self._still_lut = (1.0 - np.minimum(np.arange(256, dtype=np.float32) / np.float32(o.motion_threshold),
                                            1.0)).astype(np.float32)
        self._prev: np.ndarray | None = None
        self._prev_grey: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = None
        self._prev_grey = None

    def apply(self, alpha: np.ndarray, grey: np.ndarray | None = None) -> np.ndarray:
        """Smooth ``alpha`` (float32 0..1); ``grey`` is the frame's uint8 grey image (motion mode), at
        the alpha's size or smaller (the motion weight is upsampled)."""
        o = self.options
        alpha = alpha.astype(np.float32, copy=False)
        prev = self._prev
        if o.mode is SmoothingMode.NONE or prev is None or prev.shape != alpha.shape:
            out = alpha
        elif o.mode is SmoothingMode.EMA:
            out = cv2.addWeighted(alpha, o.ema_weight, prev, 1.0 - o.ema_weight, 0.0)
        else:
            a8 = cv2.convertScaleAbs(alpha, alpha=255.0)
            weight = cv2.LUT(a8, self._lut)
            if o.mode is SmoothingMode.MOTION and grey is not None and self._prev_grey is not None \
                    and grey.shape == self._prev_grey.shape:
                # still = 1 - min(change / threshold, 1), computed on the (small) grey images.
                change = cv2.GaussianBlur(cv2.absdiff(grey, self._prev_grey), (0, 0), 1.5)
                still = cv2.LUT(change, self._still_lut)
                if still.shape != weight.shape:
                    still = cv2.resize(still, (weight.shape[1], weight.shape[0]), interpolation=cv2.INTER_LINEAR)
                weight = cv2.multiply(weight, still)
            # a + (prev - a) * weight
            out = cv2.add(alpha, cv2.multiply(cv2.subtract(prev, alpha), weight))
        # History is the blended mask before the output ramp, so the ramp does not compound.
        self._prev = out
        self._prev_grey = grey
        if o.low > 0.0 or o.high < 1.0:
            ramp = np.subtract(out, np.float32(o.low))
            np.multiply(ramp, np.float32(1.0 / max(o.high - o.low, 1e-6)), out=ramp)
            out = np.clip(ramp, 0.0, 1.0, out=ramp)
        return out
