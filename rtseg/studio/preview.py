"""The selfie model's preview: the masks a ``masks`` export writes, frame by frame, for the page.

The export runs a file job: the registry's selfie model (with its ROI second pass) and the mask path
(temporal smoothing, then edge refinement). Both carry state from frame to frame (the tracked region,
the smoothing history), so frame N's mask depends on frames 0..N-1. :class:`SelfiePreview` runs the
same segmenter (:func:`rtseg.jobs.segmenters.production_segmenter` of the export's spec) over the
frames in order, from frame 0, and keeps what it made: a frame asked for before the last one made
comes from the cache, or, once evicted, from a run that starts again at frame 0. Each frame's mask is
stored as the export writes it (8-bit alpha, rounded the same way), so the preview of a frame is the
export's PNG for that frame.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np

from rtseg.frame import Frame
from rtseg.imaging import alpha_to_u8
from rtseg.segment.base import Segmenter
from rtseg.studio.media import FrameStore

PREVIEW_BUDGET = 256 * 1024**2
"""Bytes of preview masks kept per open video (stored as PNG: tens of KiB a frame, thousands of frames)."""


class SelfiePreview:
    """Frame ``index`` → the 8-bit alpha the ``masks`` export writes for it; thread-safe.

    ``segmenter`` is the export's production segmenter (not opened: the first frame asked for opens
    it); ``budget_bytes`` bounds the masks kept (least recently used go first).
    """

    def __init__(self, segmenter: Segmenter, frames: FrameStore, budget_bytes: int = PREVIEW_BUDGET) -> None:
        self.segmenter = segmenter
        self.frames = frames
        self.budget_bytes = budget_bytes
        self.runs = 0
        """Frames segmented so far (a restart from frame 0 segments the earlier frames again)."""
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._bytes = 0
        self._next = 0
        self._open = False
        self._lock = threading.Lock()

    def alpha(self, index: int) -> np.ndarray:
        """(H, W) uint8: the mask the ``masks`` export writes for frame ``index``."""
        with self._lock:
            data = self._cache.get(index)
            if data is not None:
                self._cache.move_to_end(index)
                return _decode(data)
            if not self._open:
                self.segmenter.open(self.frames.info)
                self._open = True
                self._next = 0
            elif index < self._next:
                self.segmenter.reset()  # the export's run starts at frame 0 with no history; so does this
                self._next = 0
            alpha = None
            while self._next <= index:
                n = self._next
                result = self.segmenter.segment(Frame(self.frames.get(n), n))
                self.runs += 1
                self._next += 1
                alpha = self._store(n, result.alpha if result is not None else None)
            assert alpha is not None
            return alpha

    def _store(self, index: int, alpha: np.ndarray | None) -> np.ndarray:
        if alpha is None:  # the selfie models always give a result; nothing to show if one did not
            u8 = np.zeros((self.frames.height, self.frames.width), np.uint8)
        else:
            u8 = alpha_to_u8(np.clip(alpha, 0.0, 1.0))  # as the masks sink writes it
        data = _encode(u8)
        old = self._cache.pop(index, None)
        if old is not None:
            self._bytes -= len(old)
        if len(data) <= self.budget_bytes:
            while self._cache and self._bytes + len(data) > self.budget_bytes:
                _, evicted = self._cache.popitem(last=False)
                self._bytes -= len(evicted)
            self._cache[index] = data
            self._bytes += len(data)
        return u8

    def close(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                self.segmenter.close()
            self._cache.clear()
            self._bytes = 0


def _encode(u8: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", u8, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    return data.tobytes()


def _decode(data: bytes) -> np.ndarray:
    u8 = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert u8 is not None
    return u8
