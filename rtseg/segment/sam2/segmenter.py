"""SAM 2 as a :class:`~rtseg.segment.base.Segmenter`: the same adapter for files and live input.

Prompts (points, boxes, masks per object and frame) come from the job; live, clicks come from a
:class:`~rtseg.segment.prompts.PromptFeed` (the preview window). On files every frame is tracked in
order and each prompt is applied on its own frame. Live (``live=True``) the segment stage hands the
adapter the newest camera frame whenever the previous result is done; the job's prompts are applied
to the first frame it sees, and new clicks to the frame they were made on when that frame has not
been tracked yet (tracking then starts from exactly what the user saw), else to the frame at hand.
A clear (new generation of the feed) calls the tracker's ``reset()``: prompts and memory are gone,
the ONNX Runtime sessions stay.

The alpha is the union of the tracked objects with a soft edge one logit wide (the same on files
and live); the per-object logits and scores ride along in :class:`~rtseg.frame.ObjectMasks`, and
``alpha > 0.5`` is exactly ``logits > 0`` of some object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtseg.frame import Frame, MaskResult, ObjectMasks, StreamInfo
from rtseg.segment.prompts import Click, Prompt, PromptFeed, read_mask_png
from rtseg.segment.providers import GpuOptions
from rtseg.segment.sam2.tracker import Sam2Tracker, TrackResult

CLICK_OBJECT_ID = 1
"""Object id of clicks in the live preview."""


def logits_to_alpha(logits: np.ndarray) -> np.ndarray:
    """(objects, H, W) logits → (H, W) float32 alpha: union of the objects, linear over logits -1..1.

    >>> logits_to_alpha(np.array([[[-3.0, 0.0, 0.5]], [[-9.0, -1.0, 4.0]]], np.float32)).tolist()
    [[0.0, 0.5, 1.0]]
    """
    if logits.shape[0] == 0:
        return np.zeros(logits.shape[1:], np.float32)
    top = logits.max(axis=0) if logits.shape[0] > 1 else logits[0]
    return np.clip(top * np.float32(0.5) + np.float32(0.5), 0.0, 1.0).astype(np.float32, copy=False)


def apply_prompt(tracker: Sam2Tracker, prompt: Prompt) -> None:
    """Queue one :class:`Prompt` on the tracker (a mask first, then points and/or a box)."""
    if prompt.mask is not None:
        tracker.add_mask(prompt.frame, prompt.obj_id, read_mask_png(prompt.mask))
    if prompt.points or prompt.box is not None:
        tracker.add_points(prompt.frame, prompt.obj_id, np.asarray(prompt.points, np.float32).reshape(-1, 2),
                           prompt.labels, box=prompt.box)


class Sam2Segmenter:
    """Track prompted objects with SAM 2 (see the module docstring).

    ``threads`` is ONNX Runtime's intra-op thread count (None: its default); ``provider`` is
    ``auto | tensorrt | cuda | cpu``.

    >>> with Sam2Segmenter("sam2-tiny", [Prompt(points=[(210, 350)])]) as seg:  # doctest: +SKIP
    ...     seg.segment(frame).objects.obj_ids
    [1]
    """

    name = "sam2"

    def __init__(self, model_dir: str | Path, prompts: Sequence[Prompt] = (), *, feed: PromptFeed | None = None,
                 threads: int | None = None, provider: str = "auto", live: bool = False,
                 gpu: GpuOptions | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.gpu = gpu
        self.prompts = list(prompts)
        self.feed = feed
        self.threads = threads
        self.provider = provider
        self.live = live
        self._tracker: Sam2Tracker | None = None
        self._generation = 0
        self._applied = 0
        self._start_prompts: list[Prompt] = []
        self._last_tracked: int | None = None
        self.tracked_frames = 0
        self.clicked_frames = 0
        """Results computed on the clicked frame itself (not a later one)."""
        self.resets = 0

    @property
    def tracker(self) -> Sam2Tracker:
        if self._tracker is None:
            raise RuntimeError("Sam2Segmenter is not open")
        return self._tracker

    def __enter__(self) -> Sam2Segmenter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, info: StreamInfo | None = None) -> None:
        """Create the ONNX Runtime sessions and apply the prompts.

        Opening again (the next video of a batch worker) keeps the sessions and starts a new video:
        memory and objects are forgotten and the current ``prompts`` apply to it.
        """
        num_frames = info.frames if info is not None and not self.live and info.frames else None
        if self._tracker is not None:
            if info is not None:
                self._tracker.reset()
                self._tracker.num_frames = num_frames
                self._start()
            return
        tracker = Sam2Tracker(self.model_dir, device=self.provider, intra_op_threads=self.threads,
                              num_frames=num_frames, gpu=self.gpu)
        tracker.open()
        self._tracker = tracker
        self._start()
        if self.live:
            # One encoder pass so ONNX Runtime's first-run allocations do not delay the first mask.
            tracker.encode_image(np.zeros((64, 64, 3), np.uint8))

    def _start(self) -> None:
        self._last_tracked = None
        self._start_prompts = []
        if self.live:
            self._start_prompts = list(self.prompts)
        else:
            for prompt in self.prompts:
                apply_prompt(self.tracker, prompt)

    def reset(self) -> None:
        """Forget prompts, objects and memory (the job's prompts apply again); keep the sessions."""
        if self._tracker is not None:
            self._tracker.reset()
            self._start()
            self.resets += 1

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None

    def _new_clicks(self) -> tuple[tuple[Click, ...], bool]:
        """Clicks not applied yet, and whether the feed was cleared since the last call."""
        if self.feed is None:
            return (), False
        state = self.feed.state
        cleared = False
        if state.generation != self._generation:
            self._generation, self._applied = state.generation, 0
            self.tracker.reset()
            self._last_tracked = None
            self._start_prompts = []  # a clear also drops the job's starting prompt
            self.resets += 1
            cleared = True
        clicks = state.clicks[self._applied:]
        self._applied = len(state.clicks)
        return clicks, cleared

    def segment(self, frame: Frame) -> MaskResult | None:
        """Track on ``frame`` (or on a newer clicked frame); None while there is nothing to track."""
        tracker = self.tracker
        clicks, cleared = self._new_clicks()
        target = frame
        if clicks and self.feed is not None:
            clicked = self.feed.shown(clicks[-1].frame)
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
        for prompt in self._start_prompts:
            prompt.check_inside(w, h)
            apply_prompt(tracker, dataclasses.replace(prompt, frame=target.index))
            prompted = True
        self._start_prompts = []
        if clicks:
            pts = [(min(max(c.x, 0.0), w), min(max(c.y, 0.0), h)) for c in clicks]
            tracker.add_points(target.index, CLICK_OBJECT_ID, pts, [c.label for c in clicks], clear_old_points=False)
            prompted = True
        if self.live and not prompted and not tracker.obj_ids:
            if cleared:
                return MaskResult(target.index, np.zeros((h, w), np.float32))  # the object is gone
            return None
        result = tracker.track(target.image, target.index)
        self._last_tracked = target.index
        self.tracked_frames += 1
        return to_mask_result(result)


def to_mask_result(result: TrackResult) -> MaskResult:
    """A tracker's :class:`TrackResult` as the :class:`MaskResult` every segmenter returns."""
    objects = ObjectMasks(list(result.obj_ids), result.video_logits, result.object_scores, result.low_res_logits)
    return MaskResult(result.frame_idx, logits_to_alpha(result.video_logits), objects)
