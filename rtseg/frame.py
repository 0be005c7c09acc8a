"""The unit of work that flows through the stage graph."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np


@dataclass(slots=True)
class Frame:
    """One video frame and everything the stages attach to it.

    ``image`` is RGB uint8 with shape (H, W, 3). ``pts`` is the presentation timestamp in units of
    ``time_base`` (as the container stored it), so a file sink can keep the input's timing exactly.
    ``stamps`` maps ``"<stage>.start"`` / ``"<stage>.end"`` to :func:`time.perf_counter` values; the
    runner derives per-stage cost and end-to-end latency from them.

    >>> import numpy as np
    >>> f = Frame(np.zeros((2, 2, 3), np.uint8), index=0, pts=0, time_base=Fraction(1, 30))
    >>> f.timestamp
    0.0
    """

    image: np.ndarray
    index: int
    pts: int | None = None
    time_base: Fraction | None = None
    name: str | None = None
    """Stem of the source file for image-folder input (``00000`` for ``00000.jpg``)."""
    alpha: np.ndarray | None = None
    """Foreground alpha, float32 in 0..1, (H, W) at frame resolution once a segmenter has run."""
    output: np.ndarray | None = None
    """The composited image (RGB, or RGBA for cutout) once an effect has run."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Per-frame data of specialised stages (e.g. SAM 2's per-object logits), keyed by stage."""
    t_in: float = field(default_factory=time.perf_counter)
    stamps: dict[str, float] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def timestamp(self) -> float | None:
        """Presentation time in seconds, or None if the source has no timing."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)

    @property
    def result(self) -> np.ndarray:
        """What a video sink should show: the composite if there is one, else the input image."""
        return self.output if self.output is not None else self.image
