"""Edge refinement of the alpha at output resolution, guided by the full-resolution frame.

* ``guided``: He et al.'s guided filter (``cv2.ximgproc.guidedFilter``) run at a reduced scale with
  the colour frame as guide, so the matte snaps to image edges (hair, shoulders) instead of the
  model's blocky low-resolution outline.
* ``feather``: a small Gaussian on the alpha (softens stair steps; cheap).

Soft alpha is preserved: nothing here thresholds to 0/1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np


class RefineMode(StrEnum):
    NONE = "none"
    FEATHER = "feather"
    GUIDED = "guided"


@dataclass
class RefineOptions:
    mode: RefineMode = RefineMode.NONE
    radius: int = 4
    """Guided-filter window radius, in pixels of the reduced guide."""
    eps: float = 1e-3
    """Guided-filter regularisation (on 0..1 intensities); larger keeps the alpha smoother."""
    scale: int = 4
    """The guided filter runs at 1/scale of the frame size."""
    feather: float = 1.5
    """Feather sigma in output pixels."""


def upsample(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    if alpha.shape == (height, width):
        return alpha
    return cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)


def refine_alpha(alpha: np.ndarray, image: np.ndarray, options: RefineOptions) -> np.ndarray:
    """Refine ``alpha`` (float32, any size) to the size of ``image`` (RGB uint8)."""
    h, w = image.shape[:2]
    if options.mode is RefineMode.GUIDED:
        s = max(1, options.scale)
        gw, gh = max(1, w // s), max(1, h // s)
        guide = cv2.resize(image, (gw, gh), interpolation=cv2.INTER_AREA)
        src = cv2.resize(alpha, (gw, gh), interpolation=cv2.INTER_AREA)
        out = cv2.ximgproc.guidedFilter(guide, src, options.radius, options.eps * 255.0 * 255.0)
        return np.clip(upsample(out, w, h), 0.0, 1.0)
    out = upsample(alpha, w, h)
    if options.mode is RefineMode.FEATHER and options.feather > 0:
        out = cv2.GaussianBlur(out, (0, 0), options.feather)
    return out
