"""Forward tracking of one video, one frame at a time: the state a pipeline's SAM 2 stage keeps.

:class:`StreamingState` reproduces ``sam2.SAM2VideoPredictor`` (the settings recorded in the model's
manifest, i.e. the reference's own defaults) on a :class:`~rtseg.segment.sam2.model.TrackerModel`, so
it can sit in a streaming pipeline:

* a frame where an object gets its first prompt is a *conditioning frame*: segmented from the prompt
  alone (the no-memory embedding is added to the features), kept in memory for the whole video;
* every later frame attends to all conditioning frames, the 6 most recent other frames
  (``num_maskmem = 7``, each with its temporal encoding) and the object pointers of up to 16 frames;
* a prompt on a frame where the object is already tracked is a *correction*, as in SAM 2's
  interactive use: the frame is tracked first, then the decoder reruns with the new points and the
  tracked logits as mask input; the corrected result replaces the frame's memory;
* an object judged absent (object score <= 0) gets -1024 logits and the no-object pointer;
* one click gives three candidate masks and the one with the best predicted IoU wins; tracking
  frames do the same, and single-mask outputs fall back to the best candidate when unstable.

Memory is bounded: conditioning frames plus the memories of the last ``num_maskmem - 1`` frames and
the pointers of the last ``max_obj_ptrs_in_encoder - 1`` frames; older entries are dropped.

Deliberate difference: SAM 2's offline ``propagate_in_video`` knows every prompt before it starts,
so an object first prompted on frame K is also "tracked" on frames before K using memory from the
future frame K. A stream cannot look ahead: here an object's masks start at its first prompt and
earlier frames report it absent (logits -1024).
"""

from __future__ import annotations

import numpy as np

from rtseg.errors import ConfigError
from rtseg.segment.prompts import Prompt
from rtseg.segment.sam2.memory import Memory, ObjectState, apply_prompt, prune, track_object
from rtseg.segment.sam2.model import Decoded, Features, TrackerModel, TrackResult


class StreamingState:
    """One video's forward-tracking state over an open :class:`TrackerModel` (see the module docstring).

    Frames must be given in increasing order (gaps are allowed). Prompts are given for a frame before
    that frame is tracked, in video pixels. ``num_frames`` is the video's length when known: SAM 2
    normalises pointer distances by ``min(num_frames, 16) - 1``, so it changes results on videos
    shorter than 16 frames; ``None`` means "long video".
    """

    def __init__(self, model: TrackerModel, num_frames: int | None = None) -> None:
        self.model = model
        self.num_frames = num_frames
        self._objects: dict[int, ObjectState] = {}
        self._pending: dict[int, list[Prompt]] = {}
        self.last_frame: int | None = None
        """The last frame tracked (None before the first)."""
        self.video_hw: tuple[int, int] | None = None

    def reset(self, num_frames: int | None = None) -> None:
        """Forget the video: every prompt, object and memory, the last tracked frame and the frame size."""
        self._objects.clear()
        self._pending.clear()
        self.last_frame = None
        self.video_hw = None
        self.num_frames = num_frames

    @property
    def obj_ids(self) -> list[int]:
        """Object ids in the order they were first prompted."""
        return list(self._objects)

    # -- prompts -----------------------------------------------------------------------------------

    def add_prompt(self, prompt: Prompt) -> None:
        """Queue a prompt for its frame, which must not have been tracked yet."""
        frame = prompt.frame
        if self.num_frames is not None and frame >= self.num_frames:
            raise ConfigError(f"frame {frame} is outside the video (frames 0..{self.num_frames - 1})")
        if self.last_frame is not None and frame <= self.last_frame:
            raise ConfigError(f"frame {frame} was already tracked (last tracked frame: {self.last_frame}); "
                              "prompts must be for a frame that has not been tracked yet")
        if self.video_hw is not None:
            prompt.check_frame(self.video_hw[1], self.video_hw[0])
        self._pending.setdefault(frame, []).append(prompt)

    def remove_object(self, obj_id: int) -> None:
        """Forget an object: its memory and its queued prompts."""
        self._objects.pop(int(obj_id), None)
        for frame, prompts in list(self._pending.items()):
            self._pending[frame] = [p for p in prompts if p.obj_id != obj_id]

    def clear_frame(self, frame: int) -> None:
        """Take back the prompts queued for a frame that has not been tracked yet."""
        self._pending.pop(frame, None)

    # -- the per-frame step ------------------------------------------------------------------------

    def track(self, rgb: np.ndarray, frame_idx: int | None = None) -> TrackResult:
        """Apply the prompts queued for this frame and track every object on it.

        ``rgb`` is the frame (H, W, 3) uint8; ``frame_idx`` defaults to the next index.
        """
        model = self.model
        model.require_open()
        if frame_idx is None:
            frame_idx = 0 if self.last_frame is None else self.last_frame + 1
        if self.last_frame is not None and frame_idx <= self.last_frame:
            raise ConfigError(f"frames must be tracked in increasing order: got {frame_idx} after {self.last_frame}")
        if self.num_frames is not None and frame_idx >= self.num_frames:
            raise ConfigError(f"frame {frame_idx} is outside the video (frames 0..{self.num_frames - 1})")
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ConfigError(f"expected an RGB frame (H, W, 3), got shape {rgb.shape}")
        hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        if self.video_hw is None:
            self.video_hw = hw
        elif self.video_hw != hw:
            raise ConfigError(f"frame size changed: {hw} != {self.video_hw}")

        pending = self._pending.pop(frame_idx, [])
        for prompt in pending:
            prompt.check_frame(hw[1], hw[0])
        by_object: dict[int, list[Prompt]] = {}
        for prompt in pending:
            by_object.setdefault(prompt.obj_id, []).append(prompt)
            if prompt.obj_id not in self._objects:
                self._objects[prompt.obj_id] = ObjectState(prompt.obj_id)

        feats = model.encode_image(rgb)
        outputs: list[Decoded] = []
        for obj in self._objects.values():
            prompts = by_object.get(obj.obj_id, [])
            if not obj.started and not prompts:
                outputs.append(model.absent())
                continue
            outputs.append(self._step(obj, frame_idx, feats, prompts, hw))
            prune(model, obj, frame_idx)
        self.last_frame = frame_idx
        return model.result(frame_idx, self.obj_ids, outputs, hw)

    def _step(self, obj: ObjectState, frame: int, feats: Features, prompts: list[Prompt],
              hw: tuple[int, int]) -> Decoded:
        """Track one object on one frame, then apply its prompts, then encode its memory."""
        model = self.model
        s = model.settings
        is_init = not obj.started
        current: Decoded | None = None
        pix_feat = None
        if not is_init:  # a tracked frame (and the starting point of any correction on it)
            current, pix_feat = track_object(model, obj, frame, feats, self.num_frames)
        for prompt in prompts:
            current, pix_feat = apply_prompt(model, obj, prompt, feats, hw, is_init=is_init,
                                             current=current, num_frames=self.num_frames, pix_feat=pix_feat)
        assert current is not None
        binarize = bool(prompts) and s["binarize_mask_from_pts_for_mem_enc"]
        memory = Memory(current, model.encode_memory(feats, current.low, current.score, binarize))
        if is_init or (prompts and s["add_all_frames_to_correct_as_cond"]):
            obj.cond[frame] = memory
            obj.non_cond.pop(frame, None)
        else:
            obj.non_cond[frame] = memory
        return current

    def memory_size(self) -> int:
        """Bytes held in the memory bank (for checking that it stays bounded)."""
        return sum(obj.nbytes for obj in self._objects.values())
