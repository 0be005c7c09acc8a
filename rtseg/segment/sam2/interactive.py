"""Interactive SAM 2 on a recorded video: click, see the mask at once, propagate, correct, re-propagate.

:class:`InteractiveSession` follows ``SAM2VideoPredictor``'s interactive calls on the tracker's ONNX
graphs and memory code:

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

>>> with Sam2Tracker("sam2-tiny") as tracker:                                   # doctest: +SKIP
...     session = InteractiveSession(tracker, read_frame, num_frames=240)
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
from rtseg.segment.sam2.tracker import (
    NO_OBJ_SCORE,
    Sam2Tracker,
    TrackResult,
    _Features,
    _Memory,
    _Object,
    tensor_nbytes,
)

FrameReader = Callable[[int], np.ndarray]
"""Frame index → RGB uint8 (H, W, 3): frames are read when needed, never all held."""

DEFAULT_FEATURE_BUDGET = 4 * 1024**3
"""Bytes of cached image features: 1,024 frames of tiny/small/base+ at 512 (4 MiB each, float32), 256 at 1024."""


def feature_bytes(f: _Features) -> int:
    return tensor_nbytes(f.vision) + tensor_nbytes(f.feat0) + tensor_nbytes(f.feat1)


class FeatureCache:
    """Image-encoder features per frame, least recently used evicted past ``budget_bytes``."""

    def __init__(self, budget_bytes: int = DEFAULT_FEATURE_BUDGET) -> None:
        if budget_bytes < 0:
            raise ConfigError(f"feature cache budget must be >= 0 bytes, got {budget_bytes}")
        self.budget_bytes = budget_bytes
        self._items: OrderedDict[int, _Features] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, frame: int) -> bool:
        return frame in self._items

    def get(self, frame: int) -> _Features | None:
        f = self._items.get(frame)
        if f is None:
            self.misses += 1
            return None
        self._items.move_to_end(frame)
        self.hits += 1
        return f

    def put(self, frame: int, f: _Features) -> None:
        if frame in self._items:
            self.bytes -= feature_bytes(self._items.pop(frame))
        size = feature_bytes(f)
        if size > self.budget_bytes:
            return
        while self._items and self.bytes + size > self.budget_bytes:
            _, old = self._items.popitem(last=False)
            self.bytes -= feature_bytes(old)
            self.evictions += 1
        self._items[frame] = f
        self.bytes += size

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


class InteractiveSession:
    """One video's interactive SAM 2 state over an open :class:`Sam2Tracker` (its sessions are shared,
    its streaming state is not used). Not thread-safe: one caller at a time (``lock`` serialises)."""

    def __init__(self, tracker: Sam2Tracker, read_frame: FrameReader, num_frames: int, *,
                 feature_budget_bytes: int = DEFAULT_FEATURE_BUDGET,
                 corrections_as_conditioning: bool | None = None) -> None:
        if num_frames < 1:
            raise ConfigError(f"a video needs at least one frame, got {num_frames}")
        tracker._require_open()
        self.tracker = tracker
        self.read_frame = read_frame
        self.num_frames = num_frames
        self.cache = FeatureCache(feature_budget_bytes)
        self.lock = threading.RLock()
        self.encoder_runs = 0
        self.corrections_as_conditioning = (bool(tracker._s["add_all_frames_to_correct_as_cond"])
                                            if corrections_as_conditioning is None else corrections_as_conditioning)
        """A corrected frame joins the conditioning frames (kept for the whole video, never re-tracked), as
        the predictor does with ``add_all_frames_to_correct_as_cond``. Default: the model's setting (False
        for the released configs, where re-propagating from the corrected frame itself re-tracks it)."""
        self._objects: dict[int, _Object] = {}
        self._tracked: dict[int, set[int]] = {}
        self._temp: dict[int, dict[int, tuple[_Memory, bool]]] = {}
        self._hw: tuple[int, int] | None = None
        tracker.reset()
        tracker.num_frames = num_frames

    def __enter__(self) -> InteractiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget every object, result and cached feature (the tracker stays open: its owner closes it)."""
        self.reset()
        self.cache.clear()

    # -- frames and features ---------------------------------------------------------------------

    @property
    def video_hw(self) -> tuple[int, int]:
        if self._hw is None:
            rgb = self.read_frame(0)
            self._hw = (int(rgb.shape[0]), int(rgb.shape[1]))
            self.tracker._video_hw = self._hw
        return self._hw

    def _check_frame(self, frame: int) -> None:
        if not 0 <= frame < self.num_frames:
            raise ConfigError(f"frame {frame} is outside the video (frames 0..{self.num_frames - 1})")

    def features(self, frame: int) -> _Features:
        """The frame's image features: from the cache, or by running the image encoder once."""
        self._check_frame(frame)
        f = self.cache.get(frame)
        if f is None:
            rgb = self.read_frame(frame)
            if (int(rgb.shape[0]), int(rgb.shape[1])) != self.video_hw:
                raise ConfigError(f"frame {frame} is {rgb.shape[1]}x{rgb.shape[0]}, the video "
                                  f"{self.video_hw[1]}x{self.video_hw[0]}")
            f = self.tracker.encode_image(rgb)
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
        t = self.tracker
        s, e = t._s, t._e
        c = s["hidden_dim"]
        return 4 * (c * e * e + (c // 8) * (4 * e) ** 2 + (c // 4) * (2 * e) ** 2)

    # -- objects and prompts -----------------------------------------------------------------------

    @property
    def obj_ids(self) -> list[int]:
        return list(self._objects)

    def _object(self, obj_id: int) -> _Object:
        if not isinstance(obj_id, int | np.integer) or not 0 < int(obj_id) < 256:
            raise ConfigError(f"object id must be an integer in 1..255, got {obj_id!r}")
        obj = self._objects.get(int(obj_id))
        if obj is None:
            obj = self._objects[int(obj_id)] = _Object(int(obj_id))
            self._tracked[int(obj_id)] = set()
            self._temp[int(obj_id)] = {}
        return obj

    def add_points(self, frame: int, obj_id: int, points: Sequence[Sequence[float]] | np.ndarray,
                   labels: Sequence[int] | np.ndarray, *, box: Sequence[float] | None = None,
                   clear_old_points: bool = True) -> TrackResult:
        """Clicks (label 1 include, 0 exclude, video pixels) and/or a box for one object on one frame;
        every object's masks on that frame, at once (``add_new_points_or_box``)."""
        with self.lock:
            self._check_frame(frame)
            pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
            lbl = np.asarray(labels, dtype=np.int32).reshape(-1)
            if len(pts) != len(lbl):
                raise ConfigError(f"got {len(pts)} points but {len(lbl)} labels")
            if np.any((lbl != 0) & (lbl != 1)):
                raise ConfigError(f"point labels must be 0 (exclude) or 1 (include), got {lbl.tolist()}")
            if box is not None:
                if not clear_old_points:
                    raise ConfigError("a box must come first: it cannot be added to earlier points")
                b = np.asarray(box, dtype=np.float32).reshape(-1)
                if b.size != 4 or b[2] < b[0] or b[3] < b[1]:
                    raise ConfigError(f"box must be x0,y0,x1,y1 with x0<=x1 and y0<=y1, got {b.tolist()}")
                pts = np.concatenate([b.reshape(2, 2), pts], axis=0)
                lbl = np.concatenate([np.array([2, 3], np.int32), lbl])
            if len(pts) == 0:
                raise ConfigError("give at least one point or a box")
            h, w = self.video_hw
            bad = (pts[:, 0] < 0) | (pts[:, 0] > w) | (pts[:, 1] < 0) | (pts[:, 1] > h)
            if np.any(bad):
                raise ConfigError(f"prompt {pts[bad][0].tolist()} on frame {frame} is outside the frame "
                                  f"(expected 0<=x<={w}, 0<=y<={h})")
            obj = self._object(obj_id)
            t = self.tracker
            scaled = pts / np.array([w, h], np.float32) * np.float32(t.image_size)
            old = None if clear_old_points else obj.point_inputs.get(frame)
            if old is not None:
                scaled = np.concatenate([old[0], scaled], axis=0)
                lbl = np.concatenate([old[1], lbl])
            obj.point_inputs[frame] = (scaled, lbl)
            is_init = frame not in self._tracked[obj.obj_id]
            is_cond = is_init or self.corrections_as_conditioning
            prev = self._previous(obj, frame, is_cond)
            feats = self.features(frame)
            pix = t._no_memory(feats) if is_init else t._conditioned(obj, frame, feats)
            prev_logits = None
            if prev is not None and prev.pred_masks.size:
                prev_logits = np.clip(prev.pred_masks, -32.0, 32.0).astype(np.float32)
            low, ptr, score = t._decode(pix, feats, scaled, lbl, prev_logits, t._use_multimask(is_init, len(lbl)))
            self._temp[obj.obj_id][frame] = (_Memory(None, ptr, low, score), is_cond)
            return self.frame_masks(frame)

    def add_box(self, frame: int, obj_id: int, box: Sequence[float]) -> TrackResult:
        return self.add_points(frame, obj_id, np.zeros((0, 2)), np.zeros((0,)), box=box)

    def add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> TrackResult:
        """A mask (bool, video resolution) for one object on one frame (``add_new_mask``)."""
        with self.lock:
            self._check_frame(frame)
            m = np.asarray(mask)
            if m.shape != self.video_hw:
                raise ConfigError(f"mask prompt on frame {frame} has shape {m.shape}, expected {self.video_hw}")
            obj = self._object(obj_id)
            obj.point_inputs.pop(frame, None)
            t = self.tracker
            is_init = frame not in self._tracked[obj.obj_id]
            is_cond = is_init or self.corrections_as_conditioning
            low, ptr, score = t._mask_as_output(self.features(frame), t._prompt_mask(m > 0, self.video_hw))
            self._temp[obj.obj_id][frame] = (_Memory(None, ptr, low, score), is_cond)
            return self.frame_masks(frame)

    def _previous(self, obj: _Object, frame: int, is_cond: bool) -> _Memory | None:
        entry = self._temp[obj.obj_id].get(frame)
        if entry is not None and entry[1] == is_cond:
            return entry[0]
        return obj.cond.get(frame) or obj.non_cond.get(frame)

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

    def _output(self, obj: _Object, frame: int) -> _Memory | None:
        entry = self._temp[obj.obj_id].get(frame)
        if entry is not None:
            return entry[0]
        return obj.cond.get(frame) or obj.non_cond.get(frame)

    def frame_masks(self, frame: int) -> TrackResult:
        """What every object has on ``frame`` now (a prompt's result, or a propagated one)."""
        side = 4 * self.tracker._e
        lows, scores = [], []
        for obj in self._objects.values():
            out = self._output(obj, frame)
            if out is None:
                lows.append(np.full((1, 1, side, side), NO_OBJ_SCORE, np.float32))
                scores.append(np.float32(NO_OBJ_SCORE))
            else:
                lows.append(out.pred_masks)
                scores.append(out.object_score.reshape(-1)[0])
        low = np.concatenate(lows) if lows else np.zeros((0, 1, side, side), np.float32)
        self.video_hw  # noqa: B018 - sets the tracker's output size
        return TrackResult(frame_idx=frame, obj_ids=self.obj_ids, low_res_logits=low,
                           video_logits=self.tracker.to_video_resolution(low),
                           object_scores=np.asarray(scores, np.float32).reshape(-1))

    def has_result(self, frame: int) -> bool:
        return any(self._output(obj, frame) is not None for obj in self._objects.values())

    # -- propagation -------------------------------------------------------------------------------

    def _preflight(self) -> None:
        """Encode the memories of prompted frames and file them (``propagate_in_video_preflight``)."""
        t = self.tracker
        binarize = bool(t._s["binarize_mask_from_pts_for_mem_enc"])
        for obj_id, obj in self._objects.items():
            temp = self._temp[obj_id]
            for want_cond in (False, True):
                for frame, (mem, is_cond) in list(temp.items()):
                    if is_cond != want_cond:
                        continue
                    if mem.maskmem is None:
                        mem.maskmem = t._encode_memory(self.features(frame), mem.pred_masks, mem.object_score,
                                                       binarize)
                    (obj.cond if is_cond else obj.non_cond)[frame] = mem
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
            t = self.tracker
            multimask = t._use_multimask(False, 0)
            for frame in range(start, end + 1):
                if cancel is not None and cancel.is_set():
                    return
                feats: _Features | None = None
                for obj in self._objects.values():
                    if frame not in obj.cond:
                        feats = feats or self.features(frame)
                        pix = t._conditioned(obj, frame, feats)
                        low, ptr, score = t._decode(pix, feats, None, None, None, multimask)
                        mem = _Memory(None, ptr, low, score)
                        mem.maskmem = t._encode_memory(feats, low, score, False)
                        obj.non_cond[frame] = mem
                    self._tracked[obj.obj_id].add(frame)
                yield self.frame_masks(frame)

    def memory_bytes(self) -> int:
        """Bytes of results and memories held for every object (the feature cache aside)."""
        total = 0
        for obj in self._objects.values():
            for m in [*obj.cond.values(), *obj.non_cond.values()]:
                total += m.obj_ptr.nbytes + m.pred_masks.nbytes + m.object_score.nbytes
                total += 0 if m.maskmem is None else m.maskmem.nbytes
        return total
