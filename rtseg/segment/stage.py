"""The segment stage: runs a :class:`~rtseg.segment.base.Segmenter` on the frames its schedule picks.

* :class:`~rtseg.segment.base.EveryKth` (files): frames 0, K, 2K, … are segmented in order in the
  stage's own thread; the others go on without alpha for the carry stage.
* :class:`~rtseg.segment.base.NewestFrame` (live): inference may be slower than the camera, so the
  segmenter runs in a worker thread (declared to and owned by the pipeline) behind a
  :class:`~rtseg.graph.limiter.FlowLimiter` (one frame in flight, newest wins), and every frame
  goes on with the newest mask: the frame's own if it is ready within ``max_wait_s``, else the
  newest one, which belongs to an older frame (the carry stage moves it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from rtseg.frame import (
    MASK_READY,
    MASK_SOURCE_T_IN,
    NEWEST_MASK,
    UNCHANGED,
    Frame,
    MaskResult,
    MaskState,
    StreamInfo,
)
from rtseg.graph.limiter import Admission, FlowLimiter
from rtseg.graph.queues import Stopped
from rtseg.graph.stage import ProcessStage, Worker
from rtseg.imaging import upsample_alpha
from rtseg.segment.base import EveryKth, NewestFrame, Schedule, Segmenter
from rtseg.segment.gate import ChangeGate

Prepare = Callable[[int, np.ndarray], object | None]


class SegmentStage(ProcessStage):
    """Segment frames on a schedule; attach alpha (and per-object masks) to each frame.

    ``upsample`` (files) brings alpha to the frame's size here; without it alpha stays at the
    model's or working resolution for the mask stage. Live alpha is always at frame size.
    ``prepare`` is called in the live worker with each new mask (frame index, alpha); its result
    rides along in :attr:`MaskState.prepared` (the carry stage's catch-up, off the camera path).
    """

    name = "segment"

    def __init__(self, segmenter: Segmenter, schedule: Schedule | None = None, *, upsample: bool = True,
                 prepare: Prepare | None = None, gate: ChangeGate | None = None) -> None:
        self.segmenter = segmenter
        self.gate = gate
        """Skip the model on frames that did not change (:mod:`rtseg.segment.gate`); None: every frame."""
        self.schedule: Schedule = schedule or EveryKth()
        self.upsample = upsample
        self.prepare = prepare
        self.limiter: FlowLimiter[Frame] = FlowLimiter(
            1, self.schedule.max_in_queue if isinstance(self.schedule, NewestFrame) else 0)
        self.infer_seconds: list[float] = []
        self.results = 0
        """Masks produced."""
        self.stale_masks = 0
        """Live: frames that got an older frame's mask (inference was busy or late)."""
        self.no_mask = 0
        """Live: frames that arrived before any mask existed."""
        self.interval_skipped = 0
        """Live: frames not offered to inference because of ``interval``."""
        self.t_open = 0.0
        self._rate = (1, 1.0)
        self._size = (0, 0)
        self._last_offered: int | None = None
        self._mask: MaskState | None = None
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._open = False

    @property
    def live(self) -> bool:
        return isinstance(self.schedule, NewestFrame)

    # -- adaptive control (live) -------------------------------------------------------------------

    @property
    def interval(self) -> int:
        """Offer at most every ``interval``-th frame to inference (adaptive mode raises it)."""
        return self._rate[0]

    @property
    def scale(self) -> float:
        """Segment a copy of the frame scaled by this (adaptive mode lowers it)."""
        return self._rate[1]

    def set_rate(self, interval: int, scale: float) -> None:
        """Change interval and scale together (called from the adaptive loop's thread; one atomic swap)."""
        self._rate = (max(1, int(interval)), float(scale))

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self, info: StreamInfo) -> None:
        if self.gate is not None:
            self.gate.reset()
        self.segmenter.open(info)
        self._open = True
        self._size = info.size
        schedule = self.schedule
        if isinstance(schedule, NewestFrame) and schedule.warmup:
            # One inference before the first frame, so the first frames do not pay for it.
            self.segmenter.segment(Frame(np.zeros((info.height, info.width, 3), np.uint8), 0))
            self.segmenter.reset()
        self.t_open = time.perf_counter()

    def workers(self) -> list[Worker]:
        if not self.live:
            return []
        return [Worker("infer", self._work, wake=self.limiter.wake)]

    def close(self) -> None:
        if self._open:
            self._open = False
            self.segmenter.close()

    # -- files -----------------------------------------------------------------------------------

    def _run(self, frame: Frame) -> MaskResult | None:
        t0 = time.perf_counter()
        result = self.segmenter.segment(frame)
        if result is not None:
            self.infer_seconds.append(time.perf_counter() - t0)
            self.results += 1
        return result

    def process(self, frame: Frame) -> Frame:
        if self.live:
            return self._process_live(frame)
        schedule = self.schedule
        assert isinstance(schedule, EveryKth)
        if frame.index % schedule.k:
            frame.alpha = None  # the carry stage moves the last mask onto it
            return frame
        if self.gate is not None and not self.gate.check(frame.image):
            frame.alpha = None
            frame.extras[UNCHANGED] = True  # the carry stage holds the last mask on it
            return frame
        result = self._run(frame)
        if result is None:
            frame.alpha = np.zeros((frame.height, frame.width), np.float32)
            return frame
        alpha = result.alpha
        frame.alpha = upsample_alpha(alpha, frame.width, frame.height) if self.upsample else alpha
        frame.objects = result.objects
        return frame

    # -- live ------------------------------------------------------------------------------------

    def _work(self, stop: threading.Event) -> None:
        try:
            while True:
                frame = self.limiter.take(stop)
                result = self._segment_scaled(frame)
                if result is not None:
                    w, h = self._size
                    alpha = upsample_alpha(result.alpha, w, h)
                    alpha.flags.writeable = False  # shared by every frame until the next mask
                    t1 = time.perf_counter()
                    prepared = self.prepare(result.index, alpha) if self.prepare is not None else None
                    with self._cond:
                        self._mask = MaskState(alpha, result.index, frame.t_in, t1, result.objects, prepared)
                        self._cond.notify_all()
                self.limiter.done()
        except Stopped:
            raise
        except BaseException as exc:  # the pipeline re-raises it; process() stops waiting for masks
            with self._cond:
                self._error = exc
                self._cond.notify_all()
            raise

    def _segment_scaled(self, frame: Frame) -> MaskResult | None:
        scale = self.scale
        if scale < 1.0:
            size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
            frame = Frame(cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA), frame.index, frame.pts,
                          frame.time_base, t_in=frame.t_in)
        return self._run(frame)

    def _offer(self, frame: Frame) -> bool:
        interval = self.interval
        if self._last_offered is not None and 0 <= frame.index - self._last_offered < interval:
            self.interval_skipped += 1
            return False
        gate = self.gate
        if gate is not None and not gate.check(frame.image, commit=False):
            frame.extras[UNCHANGED] = True  # nothing changed: the carry stage holds the last mask
            return False
        admitted = self.limiter.offer(frame) is Admission.IN_FLIGHT
        if admitted:
            self._last_offered = frame.index
            if gate is not None and gate.pending is not None:
                gate.accept(gate.pending)
        return admitted

    @property
    def latest_mask(self) -> MaskState | None:
        return self._mask

    def _process_live(self, frame: Frame) -> Frame:
        if self._error is not None:
            raise Stopped  # the worker's own error is what the pipeline reports
        admitted = self._offer(frame)
        schedule = self.schedule
        assert isinstance(schedule, NewestFrame)
        with self._cond:
            if admitted and schedule.max_wait_s > 0:
                deadline = time.perf_counter() + schedule.max_wait_s
                while (self._mask is None or self._mask.index < frame.index) and self._error is None:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            mask = self._mask
        if mask is None:
            self.no_mask += 1
            return frame
        if mask.index != frame.index:
            self.stale_masks += 1
        frame.alpha = mask.alpha
        frame.objects = mask.objects
        frame.extras[NEWEST_MASK] = mask
        frame.stamps[MASK_READY] = mask.t_ready
        frame.stamps[MASK_SOURCE_T_IN] = mask.t_in
        return frame
