"""The live-path stages: segmentation behind a flow limiter, carry-forward, and a composite that
never waits for inference.

On files every frame is segmented in order (``SegmentStage``). Live, inference may be slower than
the camera, so :class:`LiveSegmentStage` runs the segmenter in its own worker thread behind a
:class:`~rtseg.live.limiter.FlowLimiter` (one frame in flight, newest wins) and attaches to every
camera frame the newest mask available: the frame's own mask if it is ready within ``max_wait_s``,
else the newest one, which belongs to an older frame. :class:`LiveCarryStage` moves that mask onto
the frame by optical flow (:class:`~rtseg.temporal.carry.LiveCarrier`) and fades a fresh mask in over
a frame or two. Every camera frame goes on to :class:`LiveCompositeStage`, which applies the effect
chosen by the :class:`~rtseg.live.hotkeys.LiveControls` and, optionally, fails closed (blurs the
whole frame) when no fresh mask has arrived for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from rtseg.effects import BlurEffect, ReplaceEffect
from rtseg.frame import Frame
from rtseg.graph.queues import Stopped
from rtseg.graph.stage import ProcessStage
from rtseg.live.hotkeys import LiveControls
from rtseg.live.limiter import Admission, FlowLimiter
from rtseg.segment.base import Segmenter, upsample_alpha
from rtseg.temporal.carry import LIVE_FLOW_WIDTH, LIVE_MASK_WIDTH, LIVE_PRESET, CarryKey, CarryOptions, LiveCarrier

MASK_READY = "mask.ready"
"""``Frame.stamps`` key: when the mask attached to the frame finished (perf_counter seconds)."""
MASK_SOURCE_T_IN = "mask.t_in"
"""``Frame.stamps`` key: ``t_in`` of the frame the attached mask was computed from."""

LIVE_MASK = "live_mask"
"""``Frame.extras`` key: the :class:`MaskState` attached by :class:`LiveSegmentStage`."""
CARRY_AGE = "carry_age"
"""``Frame.extras`` key: frames between the frame and its mask's own frame (0: its own mask)."""

SizeHint = tuple[int, int] | Callable[[], tuple[int, int]] | None


@dataclass(frozen=True)
class MaskState:
    """The newest mask: alpha at frame resolution (read-only, shared by several frames)."""

    alpha: np.ndarray
    index: int
    t_in: float
    t_ready: float
    prepared: object | None = None
    """What ``LiveSegmentStage.prepare`` made of the mask in the worker (the carry stage's catch-up)."""


@dataclass(frozen=True)
class FrameResult:
    """A :class:`FrameSegmenter`'s output: ``alpha`` belongs to ``frame`` (not always the one given)."""

    alpha: np.ndarray
    frame: Frame


@runtime_checkable
class FrameSegmenter(Protocol):
    """A segmenter that needs the whole frame (its index: SAM 2 tracks frames in order) and may
    answer for another frame (a clicked one) or not at all (nothing to track: None)."""

    name: str

    def open(self) -> None: ...

    def segment_frame(self, frame: Frame) -> FrameResult | None: ...

    def close(self) -> None: ...


class LiveSegmentStage(ProcessStage):
    """Segment the newest frame in a worker thread; attach the newest mask to every frame.

    ``max_wait_s``: how long a frame the limiter admitted waits for its own mask (at nominal load it
    is ready in a few ms, so each frame gets its own mask); frames the limiter dropped never wait.
    ``warmup_size`` (width, height, or a callable giving them at ``open()``) loads the model and runs
    one inference before the first frame, so the first frames do not pay for it.
    """

    name = "segment"

    def __init__(self, segmenter: Segmenter | FrameSegmenter, *, max_wait_s: float = 0.02, max_in_queue: int = 0,
                 warmup_size: SizeHint = None,
                 prepare: Callable[[int, np.ndarray], object | None] | None = None) -> None:
        self.segmenter = segmenter
        self.prepare = prepare
        """Called in the worker with each new mask (frame index, alpha); the result rides along in
        :attr:`MaskState.prepared` (the carry stage moves the mask to the newest frame here, off
        the camera path)."""
        self.max_wait_s = max_wait_s
        self.limiter: FlowLimiter[Frame] = FlowLimiter(1, max_in_queue)
        self.warmup_size = warmup_size
        self.infer_seconds: list[float] = []
        self.stale_masks = 0
        """Frames that got an older frame's mask (inference was busy or late)."""
        self.no_mask = 0
        """Frames that arrived before any mask existed."""
        self.results = 0
        """Masks produced by the worker."""
        self.interval = 1
        """Offer at most every ``interval``-th frame to inference (adaptive mode raises it)."""
        self.scale = 1.0
        """Segment a copy of the frame scaled by this (adaptive mode lowers it; plain segmenters only)."""
        self.interval_skipped = 0
        """Frames not offered to inference because of ``interval``."""
        self.t_open = 0.0
        self._last_offered: int | None = None
        self._mask: MaskState | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        self._open = False

    def open(self) -> None:
        self.segmenter.open()
        self._open = True
        size = self.warmup_size() if callable(self.warmup_size) else self.warmup_size
        if size is not None and not isinstance(self.segmenter, FrameSegmenter):
            w, h = size
            self.segmenter.segment(np.zeros((h, w, 3), np.uint8), 0)
        self.t_open = time.perf_counter()
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="rtseg-infer", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        try:
            while True:
                frame = self.limiter.take(self._stop)
                t0 = time.perf_counter()
                result = self._segment(frame)
                if result is not None:
                    src = result.frame
                    alpha = upsample_alpha(result.alpha, src.width, src.height)
                    alpha.flags.writeable = False  # shared by every frame until the next mask
                    t1 = time.perf_counter()
                    self.infer_seconds.append(t1 - t0)
                    prepared = self.prepare(src.index, alpha) if self.prepare is not None else None
                    with self._cond:
                        self.results += 1
                        self._mask = MaskState(alpha, src.index, src.t_in, t1, prepared)
                        self._cond.notify_all()
                self.limiter.done()
        except Stopped:
            pass
        except BaseException as exc:  # re-raised in process(): no silent thread death
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _segment(self, frame: Frame) -> FrameResult | None:
        seg = self.segmenter
        if isinstance(seg, FrameSegmenter):
            return seg.segment_frame(frame)
        image, scale = frame.image, self.scale
        if scale < 1.0:
            size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ts = frame.timestamp
        return FrameResult(seg.segment(image, None if ts is None else int(ts * 1000)), frame)

    @property
    def latest_mask(self) -> MaskState | None:
        return self._mask

    def _offer(self, frame: Frame) -> bool:
        if self._last_offered is not None and 0 <= frame.index - self._last_offered < self.interval:
            self.interval_skipped += 1
            return False
        admitted = self.limiter.offer(frame) is Admission.IN_FLIGHT
        if admitted:
            self._last_offered = frame.index
        return admitted

    def process(self, frame: Frame) -> Frame:
        if self._error is not None:
            raise RuntimeError("segmentation worker failed") from self._error
        admitted = self._offer(frame)
        with self._cond:
            if admitted and self.max_wait_s > 0:
                deadline = time.perf_counter() + self.max_wait_s
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
        alpha = mask.alpha
        if alpha.shape != (frame.height, frame.width):  # the camera came back at another size
            alpha = upsample_alpha(alpha, frame.width, frame.height)
        frame.alpha = alpha
        frame.extras[LIVE_MASK] = mask
        frame.stamps[MASK_READY] = mask.t_ready
        frame.stamps[MASK_SOURCE_T_IN] = mask.t_in
        return frame

    def close(self) -> None:
        self._stop.set()
        self.limiter.wake()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
            self._worker = None
        if self._open:
            self._open = False
            self.segmenter.close()


class LiveCarryStage(ProcessStage):
    """Move each frame's newest mask onto the frame by optical flow from the mask's own frame.

    Every frame's small grey image is kept (:class:`~rtseg.temporal.carry.LiveCarrier`), so a mask
    that arrives many frames after its own frame catches up at once (the inference worker does that
    catch-up through :meth:`prepare`, off the camera path). A fresh mask replacing a carried one
    fades in over ``blend_frames`` frames. With ``enabled=False`` the mask is held as it is (the
    stale baseline); the age is recorded either way, in ``ages`` and ``frame.extras["carry_age"]``.
    """

    name = "carry"

    def __init__(self, *, enabled: bool = True, flow_width: int = LIVE_FLOW_WIDTH, mask_width: int = LIVE_MASK_WIDTH,
                 blend_frames: int = 2, history: int = 96) -> None:
        self.enabled = enabled
        self.options = CarryOptions(flow_width=flow_width, preset=LIVE_PRESET)
        self.mask_width = mask_width
        self.blend_frames = blend_frames
        self.history = history
        self.ages: list[int] = []
        self.keys = 0
        """Fresh masks taken as the new key."""
        self.carried_frames = 0
        """Frames whose mask was moved by flow (age > 0)."""
        self.carrier: LiveCarrier | None = None
        self._key: MaskState | None = None
        self._size: tuple[int, int] | None = None

    def open(self) -> None:
        self.carrier, self._key, self._size = None, None, None
        self.ages = []

    def _carrier_for(self, frame: Frame) -> LiveCarrier:
        size = (frame.width, frame.height)
        if self.carrier is None or size != self._size:
            w, h = size
            mask_size = (self.mask_width, max(1, round(h * self.mask_width / w))) if w > self.mask_width else None
            self.carrier = LiveCarrier(self.options, mask_size=mask_size, history=self.history,
                                       blend_frames=self.blend_frames)
            self._size, self._key = size, None
        return self.carrier

    def process(self, frame: Frame) -> Frame:
        mask: MaskState | None = frame.extras.get(LIVE_MASK)
        if not self.enabled:
            if mask is not None:
                self._record(frame, max(0, frame.index - mask.index))
            return frame
        carrier = self._carrier_for(frame)
        carrier.push(frame.image, frame.index)
        if mask is None:
            return frame
        if mask is not self._key or not carrier.has_key:
            prepared = mask.prepared
            key = prepared[1] if isinstance(prepared, tuple) and prepared[0] is carrier else mask.alpha
            carrier.set_key(min(mask.index, frame.index), key)
            self._key = mask
            self.keys += 1
        age = carrier.age
        if age == 0 and not carrier.blending:
            frame.alpha = mask.alpha  # the frame's own mask, untouched
        else:
            frame.alpha = upsample_alpha(carrier.current(), frame.width, frame.height)
            self.carried_frames += age > 0
        self._record(frame, age)
        return frame

    def prepare(self, index: int, alpha: np.ndarray) -> tuple[LiveCarrier, CarryKey] | None:
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


def privacy_blur(image: np.ndarray, strength: float = 30.0) -> np.ndarray:
    """The whole frame blurred beyond recognition (fail-closed output when no mask is fresh)."""
    h, w = image.shape[:2]
    factor = max(1.0, strength / 3.0)
    small = cv2.resize(image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 3.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class LiveCompositeStage(ProcessStage):
    """Apply the current effect (blur / background k / off) to every frame, with its newest mask.

    A frame without a mask (before the first inference finished) is blurred whole rather than shown
    unprocessed. With ``fail_closed_s``, a frame whose newest mask finished more than that long ago
    is blurred whole too (privacy: a stalled segmenter never reveals the room).
    """

    name = "composite"

    def __init__(self, controls: LiveControls, *, backgrounds: list[str] | None = None, halo_free: bool = True,
                 fail_closed_s: float | None = None) -> None:
        self.controls = controls
        self.backgrounds = list(backgrounds or [])
        self.halo_free = halo_free
        self.fail_closed_s = fail_closed_s
        self.fail_closed_frames = 0
        self.mask_ages: list[float] = []
        """Per frame: how much older the mask's source frame is than the frame (0 when its own)."""
        self._blur = BlurEffect(strength=controls.state.blur_strength, halo_free=halo_free)
        self._replace: list[ReplaceEffect] = []
        self._open = False

    def open(self) -> None:
        self._blur.open()
        try:
            for bg in self.backgrounds:
                fx = ReplaceEffect(bg)
                fx.open()
                self._replace.append(fx)
        except BaseException:
            self.close()
            raise
        self._open = True

    def process(self, frame: Frame) -> Frame:
        state = self.controls.state
        alpha = frame.alpha
        if alpha is not None:
            self.mask_ages.append(frame.t_in - frame.stamps.get(MASK_SOURCE_T_IN, frame.t_in))
        stale = (alpha is not None and self.fail_closed_s is not None
                 and time.perf_counter() - frame.stamps.get(MASK_READY, 0.0) > self.fail_closed_s)
        if alpha is None or stale:
            self.fail_closed_frames += 1
            frame.output = privacy_blur(frame.image, max(30.0, state.blur_strength))
        elif not state.effect_on:
            frame.output = frame.image
        elif state.background == 0 or state.background > len(self._replace):
            self._blur.strength = state.blur_strength
            frame.output = self._blur.apply(frame.image, alpha)
        else:
            frame.output = self._replace[state.background - 1].apply(frame.image, alpha)
        return frame

    def close(self) -> None:
        while self._replace:
            self._replace.pop().close()
        if self._open:
            self._open = False
            self._blur.close()
