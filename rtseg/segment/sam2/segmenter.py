"""SAM 2 as a :class:`~rtseg.segment.base.Segmenter`: the same adapter for files and live input.

Prompts (points, boxes, masks per object and frame) come from the job; live, clicks come from a
:class:`~rtseg.segment.prompts.PromptFeed` (the preview window). On files every frame is tracked in
order and each prompt is applied on its own frame. Live (``live=True``) the segment stage hands the
adapter the newest camera frame whenever the previous result is done; the job's prompts are applied
to the first frame it sees, and new clicks to the frame they were made on when that frame has not
been tracked yet (tracking then starts from exactly what the user saw), else to the frame at hand.
A clear (new generation of the feed) resets the streaming state: prompts and memory are gone, the
ONNX Runtime sessions stay.

The alpha is the union of the tracked objects with a soft edge one logit wide (the same on files
and live); the per-object logits and scores ride along in :class:`~rtseg.frame.ObjectMasks`, and
``alpha > 0.5`` is exactly ``logits > 0`` of some object.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rtseg.frame import Frame, MaskResult, ObjectMasks, StreamInfo
from rtseg.segment.base import TrackingStats
from rtseg.segment.prompts import PreviewClick, Prompt, PromptFeed
from rtseg.segment.providers import GpuOptions
from rtseg.segment.sam2.model import TrackerModel, TrackResult
from rtseg.segment.sam2.streaming import StreamingState

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


class Sam2Segmenter:
    """Track prompted objects with SAM 2 or EdgeTAM (see the module docstring); a
    :class:`~rtseg.segment.base.Promptable`.

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
        self.model = TrackerModel(model_dir, provider=provider, intra_op_threads=threads, gpu=gpu)
        self.state = StreamingState(self.model)
        self.prompts = list(prompts)
        """The job's prompts: they apply again at every :meth:`open` (each video) and :meth:`reset`."""
        self.feed = feed
        self.live = live
        self.tracking = TrackingStats()
        self._generation = 0
        self._applied = 0
        self._start_prompts: list[Prompt] = []

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
        if self.model.is_open:
            if info is not None:
                self.state.reset(num_frames)
                self._start()
            return
        self.model.open()
        self.state.reset(num_frames)
        self._start()
        if self.live:
            # One encoder pass so ONNX Runtime's first-run allocations do not delay the first mask.
            self.model.encode_image(np.zeros((64, 64, 3), np.uint8))

    def _start(self) -> None:
        self._start_prompts = []
        if self.live:
            self._start_prompts = list(self.prompts)
        else:
            for prompt in self.prompts:
                self.state.add_prompt(prompt)

    def reset(self) -> None:
        """Forget prompts, objects and memory (the job's prompts apply again); keep the sessions."""
        if self.model.is_open:
            self.state.reset(self.state.num_frames)
            self._start()
            self.tracking.resets += 1

    def close(self) -> None:
        self.model.close()
        self.state.reset()

    # -- Promptable ----------------------------------------------------------------------------------

    @property
    def obj_ids(self) -> list[int]:
        return self.state.obj_ids

    def add_prompt(self, prompt: Prompt) -> None:
        """Queue a prompt for its frame (files); live, for the next frame segmented."""
        if self.live:
            self._start_prompts.append(prompt)
        else:
            self.state.add_prompt(prompt)

    def remove_object(self, obj_id: int) -> None:
        self.state.remove_object(obj_id)
        self._start_prompts = [p for p in self._start_prompts if p.obj_id != obj_id]

    def clear_frame(self, frame: int) -> None:
        self.state.clear_frame(frame)

    # -- segmenting ----------------------------------------------------------------------------------

    def _new_clicks(self) -> tuple[tuple[PreviewClick, ...], bool]:
        """Clicks not applied yet, and whether the feed was cleared since the last call."""
        if self.feed is None:
            return (), False
        state = self.feed.state
        cleared = False
        if state.generation != self._generation:
            self._generation, self._applied = state.generation, 0
            self.state.reset(self.state.num_frames)
            self._start_prompts = []  # a clear also drops the job's starting prompt
            self.tracking.resets += 1
            cleared = True
        clicks = state.clicks[self._applied:]
        self._applied = len(state.clicks)
        return clicks, cleared

    def segment(self, frame: Frame) -> MaskResult | None:
        """Track on ``frame`` (or on a newer clicked frame); None while there is nothing to track."""
        self.model.require_open()
        state = self.state
        clicks, cleared = self._new_clicks()
        target = frame
        last = state.last_frame
        if clicks and self.feed is not None:
            clicked = self.feed.shown(clicks[-1].frame)
            if (isinstance(clicked, Frame) and clicked.index <= frame.index
                    and (last is None or clicked.index > last)
                    and clicked.image.shape == frame.image.shape):
                target = clicked
                self.tracking.clicked_frames += 1
        if last is not None and target.index <= last:
            self._applied -= len(clicks)  # frames come in order, so this is only a guard: retry later
            return None
        h, w = target.height, target.width
        prompted = False
        for prompt in self._start_prompts:
            state.add_prompt(prompt.on_frame(target.index))  # checked against the frame by the state
            prompted = True
        self._start_prompts = []
        if clicks:
            state.add_prompt(clicks_prompt(clicks, target.index, w, h))
            prompted = True
        if self.live and not prompted and not state.obj_ids:
            if cleared:
                return MaskResult(target.index, np.zeros((h, w), np.float32))  # the object is gone
            return None
        result = state.track(target.image, target.index)
        self.tracking.tracked_frames += 1
        return to_mask_result(result)


def clicks_prompt(clicks: Sequence[PreviewClick], frame: int, width: int, height: int) -> Prompt:
    """Live clicks as one prompt for :data:`CLICK_OBJECT_ID` on ``frame``, added to the frame's earlier
    clicks; a click just past the picture's edge counts as on it."""
    points = tuple((min(max(c.x, 0.0), width), min(max(c.y, 0.0), height)) for c in clicks)
    return Prompt(frame=frame, obj_id=CLICK_OBJECT_ID, points=points, labels=tuple(c.label for c in clicks), add=True)


def to_mask_result(result: TrackResult) -> MaskResult:
    """A tracker's :class:`TrackResult` as the :class:`MaskResult` every segmenter returns."""
    objects = ObjectMasks(list(result.obj_ids), result.video_logits, result.object_scores, result.low_res_logits)
    return MaskResult(result.frame_idx, logits_to_alpha(result.video_logits), objects)
