"""Run the model only on frames that changed: a per-region image-change gate.

A speaker at a desk changes little from one frame to the next, and the model's mask for a frame
that did not change would be the previous mask again. :class:`ChangeGate` keeps a small grey
thumbnail of the last frame that was segmented and splits the frame into a grid of cells
(16x9 by default: 80x80 pixels at 720p). A frame goes to the model when any one cell's mean
absolute grey-level change since that frame exceeds ``threshold``, so a moving hand in one cell
still gets a fresh mask even though the frame as a whole barely changed (the failure of a
whole-frame PSNR test, which freezes the mask while a small part moves). Otherwise the frame is
skipped and the carry stage moves the last mask onto it by optical flow (a still frame: no move).
The model runs at least every ``max_skip`` frames whatever the gate says, so slow drifts (light,
exposure) are caught within half a second at 30 fps.

The check costs about 0.1 ms per 720p frame (a bilinear shrink to a 128x72 grey thumbnail).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rtseg.imaging import shrink


@dataclass(frozen=True)
class GateOptions:
    threshold: float = 4.0
    """Mean absolute grey-level change (0..255) of any one cell that sends a frame to the model."""
    cols: int = 16
    rows: int = 9
    max_skip: int = 15
    """Frames in a row the gate may skip; the next one goes to the model regardless."""
    criterion: str = "cells"
    """``cells`` (rtseg's: the largest per-cell change, grey levels) or ``psnr`` (a whole-frame PSNR in
    dB against the last segmented frame, as the OBS plugin skips frames: the model runs when the
    PSNR falls below ``threshold``). ``psnr`` is there to compare the two (``benchmarks/gate.py``)."""

    def __post_init__(self) -> None:
        if self.criterion not in ("cells", "psnr"):
            raise ValueError(f"gate criterion must be cells or psnr, got {self.criterion!r}")
        if self.threshold <= 0:
            raise ValueError(f"gate threshold must be > 0, got {self.threshold}")
        if self.cols < 1 or self.rows < 1 or self.max_skip < 0:
            raise ValueError("gate cells must be >= 1 and max_skip >= 0")


CELL_PIXELS = 8
"""Thumbnail pixels per cell side (the thumbnail is cols*8 x rows*8)."""


class ChangeGate:
    """Decides, frame by frame, whether the model must run (see the module docstring).

    >>> import numpy as np
    >>> gate = ChangeGate(GateOptions(threshold=4.0, max_skip=30))
    >>> still = np.full((90, 160, 3), 120, np.uint8)
    >>> gate.check(still), gate.check(still.copy())     # the first frame always runs
    (True, False)
    >>> hand = still.copy(); hand[:10, :10] = 250        # one corner cell changes
    >>> gate.check(hand), gate.skipped, gate.runs
    (True, 1, 2)
    """

    def __init__(self, options: GateOptions | None = None) -> None:
        self.options = options or GateOptions()
        self._ref: np.ndarray | None = None
        self._since = 0
        self.runs = 0
        """Frames the gate sent to the model."""
        self.skipped = 0
        """Frames the gate held back (no change)."""
        self.last_change = 0.0
        """The largest cell change of the last frame checked (grey levels)."""
        self.pending: np.ndarray | None = None
        """The thumbnail of the last frame checked (for :meth:`accept`)."""

    def reset(self) -> None:
        self._ref = None
        self._since = 0

    def thumbnail(self, image: np.ndarray) -> np.ndarray:
        o = self.options
        small = shrink(image, o.cols * CELL_PIXELS, o.rows * CELL_PIXELS)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY) if small.ndim == 3 else small
        return grey

    def change(self, thumb: np.ndarray) -> float:
        """The largest per-cell mean absolute change between ``thumb`` and the last segmented frame
        (``psnr``: the thumbnail's PSNR against it, dB)."""
        o = self.options
        if self._ref is None or self._ref.shape != thumb.shape:
            return 0.0 if o.criterion == "psnr" else float("inf")
        if o.criterion == "psnr":
            mse = float(np.mean((thumb.astype(np.float32) - self._ref) ** 2))
            return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
        cells = cv2.resize(cv2.absdiff(thumb, self._ref), (o.cols, o.rows), interpolation=cv2.INTER_AREA)
        return float(cells.max())

    def check(self, image: np.ndarray, *, commit: bool = True) -> bool:
        """True if the frame must be segmented. With ``commit`` (default) a True also makes the frame
        the new reference; pass False when the caller may still not run the model (live: the model
        is busy), then call :meth:`accept` with :attr:`pending` once it does."""
        thumb = self.thumbnail(image)
        self.last_change = self.change(thumb)
        o = self.options
        changed = self.last_change < o.threshold if o.criterion == "psnr" else self.last_change > o.threshold
        run = changed or self._since >= o.max_skip
        self.pending = thumb
        if run:
            if commit:
                self.accept(thumb)
        else:
            self._since += 1
            self.skipped += 1
        return run

    def accept(self, thumb: np.ndarray) -> None:
        """``thumb``'s frame went to the model: it is the new reference."""
        self._ref = thumb
        self._since = 0
        self.runs += 1
