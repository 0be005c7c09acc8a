"""Interactive SAM 2 on a recorded video: click, see the mask at once, propagate, correct, re-propagate.

:class:`InteractiveSession` follows ``SAM2VideoPredictor``'s interactive calls on a
:class:`~rtseg.segment.sam2.model.TrackerModel` (SAM 2 or EdgeTAM), with the memory steps the streaming
state uses too (:mod:`rtseg.segment.sam2.memory`):

* ``add_points`` / ``add_box`` / ``add_mask`` ≙ ``add_new_points_or_box`` / ``add_new_mask``: on a frame
  the object has not been tracked on, the prompt alone segments it (an initial conditioning frame);
  on a tracked frame it corrects the tracked mask (memory-conditioned features, the previous logits as
  mask input), and with ``corrections_as_conditioning`` the frame becomes a conditioning frame. The
  result comes back at once; only the prompt encoder and mask decoder run when the frame's image
  features are cached.
* ``propagate(start)`` ≙ ``propagate_in_video(start_frame_idx=start)``: prompted frames' memories are
  encoded first (the predictor's preflight), then every frame from ``start`` (default: the first
  conditioning frame) to the end is tracked, and re-tracked frames replace their earlier results.
* Image-encoder features are kept per frame in an LRU (:class:`FeatureCache`) under a byte budget; a
  miss re-encodes the frame, so the budget never changes results.

>>> with TrackerModel("sam2-tiny") as model:                                    # doctest: +SKIP
...     session = InteractiveSession(model, read_frame, num_frames=240)
...     r = session.add_points(0, 1, [(420, 270)], [1])   # the mask of object 1 on frame 0, at once
...     for r in session.propagate():                      # then every frame to the end
...         ...
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from rtseg.errors import ConfigError
from rtseg.segment.prompts import Prompt
from rtseg.segment.sam2.memory import Memory, ObjectState, apply_prompt, track_object
from rtseg.segment.sam2.model import Decoded, Features, TrackerModel, TrackResult
from rtseg.segment.sam2.tracker import Sam2Tracker

FrameReader = Callable[[int], np.ndarray]
"""Frame index → RGB uint8 (H, W, 3): frames are read when needed, never all held."""

DEFAULT_FEATURE_BUDGET = 4 * 1024**3
"""Bytes of cached image features: 1,024 frames of tiny/small/base+ at 512 (4 MiB each, float32), 256 at 1024."""


class FeatureCache:
    """Image-encoder features per frame, least recently used evicted past ``budget_bytes``."""

    def __init__(self, budget_bytes: int = DEFAULT_FEATURE_BUDGET) -> None:
        if budget_bytes < 0:
            raise ConfigError(f"feature cache budget must be >= 0 bytes, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[int, Features] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, frame: int) -> bool:
        return frame in self._items

    def get(self, frame: int) -> Features | None:
        f = self._items.get(frame)
        if f is None:
            self.misses += 1
            return None
        self._items.move_to_end(frame)
        self.hits += 1
        return f

    def put(self, frame: int, f: Features) -> None:
        if frame in self._items:
            self.bytes -= self._items.pop(frame).nbytes
        size = f.nbytes
        if size > self.budget_bytes:
            return
        while self._items and self.bytes + size > self.budget_bytes:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.nbytes
            self.evictions += 1
        self._items[frame] = f
        self.bytes += size

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


class InteractiveSession:
    """One video's interactive state over an open :class:`TrackerModel` (a :class:`Sam2Tracker` is
    accepted for its model; its own streaming state is not touched). Not thread-safe: one caller at a
    time (``lock`` serialises)."""

    def __init__(self, model: TrackerModel | Sam2Tracker, read_frame: FrameReader, num_frames: int, *,
                 feature_budget_bytes: int = DEFAULT_FEATURE_BUDGET,
                 corrections_as_conditioning: bool | None = None) -> None:
        if num_frames < 1:
            raise ConfigError(f"a video needs at least one frame, got {num_frames}")
        model = model.model if isinstance(model, Sam2Tracker) else model
        model.require_open()
        self.model = model
        self.read_frame = read_frame
        self.num_frames = num_frames
        self.cache = FeatureCache(feature_budget_bytes)
        self.lock = threading.RLock()
        self.encoder_runs = 0
        self.corrections_as_conditioning = (bool(model.settings["add_all_frames_to_correct_as_cond"])
                                            if corrections_as_conditioning is None else corrections_as_conditioning)
        """A corrected frame joins the conditioning frames (kept for the whole video, never re-tracked), as
        the predictor does with ``add_all_frames_to_correct_as_cond``. Default: the model's setting (False
        for the released configs, where re-propagating from the corrected frame itself re-tracks it)."""
        self._objects: dict[int, ObjectState] = {}
        self._tracked: dict[int, set[int]] = {}
        self._temp: dict[int, dict[int, tuple[Decoded, bool]]] = {}
        """Per object: prompted frames' outputs whose memory is not encoded yet, and whether they condition."""
        self._hw: tuple[int, int] | None = None

    def __enter__(self) -> InteractiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget every object, result and cached feature (the model stays open: its owner closes it)."""
        self.reset()
        self.cache.clear()

    # -- frames and features ---------------------------------------------------------------------

    @property
    def video_hw(self) -> tuple[int, int]:
        if self._hw is None:
            rgb = self.read_frame(0)
            self._hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        return self._hw

    def _check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.num_frames:
            raise ConfigError(f"frame {frame} is outside the video (frames 0..{self.num_frames - 1})")

    def features(self, frame: int) -> Features:
        """The frame's image features: from the cache, or by running the image encoder once."""
        self._check_frame(frame)
        f = self.cache.get(frame)
        if f is None:
            rgb = self.read_frame(frame)
            if (int(rgb.shape[0]), int(rgb.shape[1])) != self.video_hw:
                raise ConfigError(f"frame {frame} is {rgb.shape[1]}x{rgb.shape[0]}, the video "
                                  f"{self.video_hw[1]}x{self.video_hw[0]}")
            f = self.model.encode_image(rgb)
            self.encoder_runs += 1
            self.cache.put(frame, f)
        return f

    def encode(self, frame: int) -> None:
        """Encode a frame ahead of its first click (e.g. when the user scrubs to it)."""
        with self.lock:
            self.features(frame)

    @property
    def feature_bytes_per_frame(self) -> int:
        """Bytes one frame's cached features take (from the model's shapes)."""
        return self.model.feature_bytes_per_frame

    # -- objects and prompts -----------------------------------------------------------------------

    @property
    def obj_ids(self) -> list[int]:
        return list(self._objects)

    def _object(self, obj_id: int) -> ObjectState:
        obj = self._objects.get(obj_id)
        if obj is None:
            obj = self._objects[obj_id] = ObjectState(obj_id)
            self._tracked[obj_id] = set()
            self._temp[obj_id] = {}
        return obj

    def add_prompt(self, prompt: Prompt) -> TrackResult:
        """A prompt for one object on one frame (``add_new_points_or_box`` / ``add_new_mask``): on a frame
        the object was not tracked on, it segments the object alone; on a tracked frame it corrects the
        tracked mask. Returns every object's masks on that frame, at once."""
        with self.lock:
            frame = prompt.frame
            self._check_frame(frame)
            h, w = self.video_hw
            prompt.check_frame(w, h)
            obj = self._object(prompt.obj_id)
            is_init = frame not in self._tracked[obj.obj_id]
            is_cond = is_init or self.corrections_as_conditioning
            prev = self._previous(obj, frame, is_cond)
            out, _ = apply_prompt(self.model, obj, prompt, self.features(frame), (h, w), is_init=is_init,
                                  current=prev, num_frames=self.num_frames)
            self._temp[obj.obj_id][frame] = (out, is_cond)
            return self.frame_masks(frame)

    def add_points(self, frame: int, obj_id: int, points: Sequence[Sequence[float]] | np.ndarray,
                   labels: Sequence[int] | np.ndarray, *, box: Sequence[float] | None = None,
                   clear_old_points: bool = True) -> TrackResult:
        """Clicks (label 1 include, 0 exclude, video pixels) and/or a box for one object on one frame."""
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        return self.add_prompt(Prompt(frame=frame, obj_id=obj_id, points=tuple((x, y) for x, y in pts.tolist()),
                                      labels=tuple(np.asarray(labels).reshape(-1).tolist()),
                                      box=None if box is None else tuple(box),  # type: ignore[arg-type]
                                      add=not clear_old_points))

    def add_box(self, frame: int, obj_id: int, box: Sequence[float]) -> TrackResult:
        return self.add_prompt(Prompt(frame=frame, obj_id=obj_id, box=tuple(box)))  # type: ignore[arg-type]

    def add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> TrackResult:
        """A mask (bool, video resolution) for one object on one frame (``add_new_mask``)."""
        return self.add_prompt(Prompt(frame=frame, obj_id=obj_id, mask=np.asarray(mask)))

    def _previous(self, obj: ObjectState, frame: int, is_cond: bool) -> Decoded | None:
        entry = self._temp[obj.obj_id].get(frame)
        if entry is not None and entry[1] == is_cond:
            return entry[0]
        mem = obj.output(frame)
        return None if mem is None else mem.out

    def clear_prompts(self, frame: int, obj_id: int) -> None:
        """Take back an object's prompts on one frame (``clear_all_prompts_in_frame``): its result there
        becomes an ordinary tracked one again, or goes if the frame was never tracked."""
        with self.lock:
            obj = self._objects.get(int(obj_id))
            if obj is None:
                return
            obj.point_inputs.pop(frame, None)
            self._temp[obj.obj_id].pop(frame, None)
            out = obj.cond.pop(frame, None)
            if out is not None:
                obj.non_cond[frame] = out
                self._tracked[obj.obj_id].discard(frame)

    def clear_frame(self, frame: int) -> None:
        """Take back every object's prompts on one frame."""
        with self.lock:
            for obj_id in list(self._objects):
                self.clear_prompts(frame, obj_id)

    def remove_object(self, obj_id: int) -> None:
        """Forget an object: its prompts and every result it had."""
        with self.lock:
            for d in (self._objects, self._tracked, self._temp):
                d.pop(int(obj_id), None)  # type: ignore[attr-defined]

    def reset(self) -> None:
        """Forget every object and result; cached features stay (they depend only on the frames)."""
        with self.lock:
            self._objects.clear()
            self._tracked.clear()
            self._temp.clear()

    # -- results -------------------------------------------------------------------------------------

    def _output(self, obj: ObjectState, frame: int) -> Decoded | None:
        entry = self._temp[obj.obj_id].get(frame)
        if entry is not None:
            return entry[0]
        mem = obj.output(frame)
        return None if mem is None else mem.out

    def frame_masks(self, frame: int) -> TrackResult:
        """What every object has on ``frame`` now (a prompt's result, or a propagated one)."""
        outputs = [self._output(obj, frame) or self.model.absent() for obj in self._objects.values()]
        return self.model.result(frame, self.obj_ids, outputs, self.video_hw)

    def has_result(self, frame: int) -> bool:
        return any(self._output(obj, frame) is not None for obj in self._objects.values())

    # -- propagation -------------------------------------------------------------------------------

    def _preflight(self) -> None:
        """Encode the memories of prompted frames and file them (``propagate_in_video_preflight``)."""
        binarize = bool(self.model.settings["binarize_mask_from_pts_for_mem_enc"])
        for obj_id, obj in self._objects.items():
            temp = self._temp[obj_id]
            for want_cond in (False, True):
                for frame, (out, is_cond) in list(temp.items()):
                    if is_cond != want_cond:
                        continue
                    maskmem = self.model.encode_memory(self.features(frame), out.low, out.score, binarize)
                    (obj.cond if is_cond else obj.non_cond)[frame] = Memory(out, maskmem)
            temp.clear()
            for frame in obj.cond:
                obj.non_cond.pop(frame, None)

    def propagate(self, start: int | None = None, *, end: int | None = None,
                  cancel: threading.Event | None = None) -> Iterator[TrackResult]:
        """Track every object from ``start`` (default: the first prompted frame) to ``end`` (default:
        the last frame), yielding each frame's masks; ``cancel`` (or leaving the loop) stops between frames."""
        with self.lock:
            self._preflight()
            if not self._objects:
                raise ConfigError("nothing to propagate: add a prompt first")
            for obj_id, obj in self._objects.items():
                if not obj.cond:
                    raise ConfigError(f"object {obj_id} has no prompt; add one or remove the object")
            conds = [f for obj in self._objects.values() for f in obj.cond]
            first = min(conds) if conds else 0
            start = first if start is None else start
            end = self.num_frames - 1 if end is None else end
            self._check_frame(start)
            self._check_frame(end)
            model = self.model
            for frame in range(start, end + 1):
                if cancel is not None and cancel.is_set():
                    return
                feats: Features | None = None
                for obj in self._objects.values():
                    if frame not in obj.cond:
                        feats = feats or self.features(frame)
                        out, _ = track_object(model, obj, frame, feats, self.num_frames)
                        obj.non_cond[frame] = Memory(out, model.encode_memory(feats, out.low, out.score, False))
                    self._tracked[obj.obj_id].add(frame)
                yield self.frame_masks(frame)

    def memory_bytes(self) -> int:
        """Bytes of results and memories held for every object (the feature cache aside)."""
        return sum(obj.nbytes for obj in self._objects.values())
