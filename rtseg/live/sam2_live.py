"""SAM 2 on the live path: a :class:`~rtseg.live.stages.FrameSegmenter` around :class:`Sam2Tracker`.

The live segment stage hands this adapter the newest camera frame whenever the previous result is
done (about once a second for tiny at 512 on a 2-core CPU); between results the carry stage moves
the newest mask with the image. The object to track comes from the config's prompt (applied to the
first frame) and from clicks in the preview window (:mod:`rtseg.live.prompts`): new clicks are
applied to the frame they were made on when that frame has not been tracked yet (tracking then
starts from exactly what the user saw), else to the frame at hand. Clearing (``c``) starts a fresh
tracker, so the old object and its memory are gone.

The adapter's alpha is the union of the tracked objects, with a soft edge one logit wide.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rtseg.frame import Frame
from rtseg.live.prompts import Click, PromptControls
from rtseg.live.stages import FrameResult

log = logging.getLogger("rtseg.live")

OBJECT_ID = 1


def logits_to_alpha(logits: np.ndarray) -> np.ndarray:
    """(objects, H, W) logits → (H, W) float32 alpha: union of the objects, linear over logits -1..1.

    >>> logits_to_alpha(np.array([[[-3.0, 0.0, 0.5]], [[-9.0, -1.0, 4.0]]], np.float32)).tolist()
    [[0.0, 0.5, 1.0]]
    """
    if logits.shape[0] == 0:
        raise ValueError("no objects")
    top = logits.max(axis=0) if logits.shape[0] > 1 else logits[0]
    return np.clip(top * np.float32(0.5) + np.float32(0.5), 0.0, 1.0).astype(np.float32, copy=False)


class Sam2LiveSegmenter:
    """Track one object with SAM 2 through live frames, prompted by the config and by clicks.

    ``points``/``labels``/``box`` (video pixels) prompt the first frame; ``controls`` (the preview
    window's clicks) prompt later frames. ``threads`` is ONNX Runtime's intra-op thread count
    (1: the other core stays with the camera path; None: ORT's default). ``tracker_factory`` builds
    the tracker (default: :class:`~rtseg.segment.sam2.tracker.Sam2Tracker` on ``model_dir``).
    """

    name = "sam2"

    def __init__(self, model_dir: str | Path, *, points: list[tuple[float, float]] | None = None,
                 labels: list[int] | None = None, box: tuple[float, float, float, float] | None = None,
                 controls: PromptControls | None = None, threads: int | None = 1, device: str = "cpu",
                 tracker_factory: Callable[[], object] | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.points = list(points or [])
        self.labels = list(labels) if labels else [1] * len(self.points)
        self.box = box
        self.controls = controls
        self.threads = threads
        self.device = device
        self._factory = tracker_factory
        self._tracker: object | None = None
        self._generation = 0
        self._applied = 0
        self._start_prompt = bool(self.points) or box is not None
        self._last_tracked: int | None = None
        self.tracked_frames = 0
        self.clicked_frames = 0
        """Results computed on the clicked frame itself (not a later one)."""
        self.resets = 0

    def _new_tracker(self) -> object:
        if self._factory is not None:
            return self._factory()
        from rtseg.segment.sam2.tracker import Sam2Tracker

        return Sam2Tracker(self.model_dir, device=self.device, intra_op_threads=self.threads or None)

    @property
    def tracker(self):  # type: ignore[no-untyped-def]
        """The current :class:`Sam2Tracker` (replaced on each clear)."""
        if self._tracker is None:
            raise RuntimeError("Sam2LiveSegmenter is not open")
        return self._tracker

    def open(self) -> None:
        if self._tracker is not None:
            return
        tracker = self._new_tracker()
        tracker.open()  # type: ignore[attr-defined]
        # One encoder pass so ONNX Runtime's first-run allocations do not delay the first mask.
        tracker.encode_image(np.zeros((64, 64, 3), np.uint8))  # type: ignore[attr-defined]
        self._tracker = tracker
        self._last_tracked = None

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()  # type: ignore[attr-defined]
            self._tracker = None

    def _reset(self) -> None:
        old = self._tracker
        if old is not None:
            old.close()  # type: ignore[attr-defined]
        self._tracker = None
        self.open()
        self.resets += 1

    def segment_frame(self, frame: Frame) -> FrameResult | None:
        """Track on ``frame`` (or on a newer clicked frame); None while there is nothing to track."""
        tracker = self.tracker
        cleared = False
        clicks: tuple[Click, ...] = ()
        if self.controls is not None:
            state = self.controls.state
            if state.generation != self._generation:
                self._generation, self._applied = state.generation, 0
                self._start_prompt = False  # a clear also drops the config's starting prompt
                self._reset()
                tracker, cleared = self.tracker, True
            clicks = state.clicks[self._applied:]
            self._applied = len(state.clicks)
        target = frame
        if clicks:
            clicked = self.controls.shown(clicks[-1].frame) if self.controls is not None else None
            if (isinstance(clicked, Frame) and clicked.index <= frame.index
                    and (self._last_tracked is None or clicked.index > self._last_tracked)
                    and clicked.image.shape == frame.image.shape):
                target = clicked
                self.clicked_frames += 1
        if self._last_tracked is not None and target.index <= self._last_tracked:
            self._applied -= len(clicks)  # frames come in order, so this is only a guard: retry later
            return None
        h, w = target.height, target.width
        prompted = False
        if self._start_prompt:
            self._start_prompt = False
            pts = [(min(max(x, 0.0), w), min(max(y, 0.0), h)) for x, y in self.points]
            tracker.add_points(target.index, OBJECT_ID, pts or np.zeros((0, 2)), self.labels or [],
                               box=self.box)
            prompted = True
        if clicks:
            pts = [(min(max(c.x, 0.0), w), min(max(c.y, 0.0), h)) for c in clicks]
            tracker.add_points(target.index, OBJECT_ID, pts, [c.label for c in clicks], clear_old_points=False)
            prompted = True
        if not prompted and not tracker.obj_ids:
            if cleared:
                return FrameResult(np.zeros((h, w), np.float32), target)  # the object is gone
            return None
        result = tracker.track(target.image, target.index)
        self._last_tracked = target.index
        self.tracked_frames += 1
        return FrameResult(logits_to_alpha(result.video_logits), target)
