"""One object's memory bank and the steps both state holders share (SAM 2's ``inference_state`` pieces).

:class:`ObjectState` is what ``SAM2VideoPredictor`` keeps per object: conditioning frames (prompted;
kept for the whole video), other tracked frames, and the points given per frame. The functions take a
:class:`~rtseg.segment.sam2.model.TrackerModel` and use only its public calls:

* :func:`condition`    ``_prepare_memory_conditioned_features``: choose the memories and pointers a
  frame attends to, add their temporal encodings, run memory attention;
* :func:`apply_prompt` ``add_new_points_or_box`` / ``add_new_mask`` on one frame: a prompt alone on an
  initial frame, or a correction of the frame's current output;
* :func:`prune`        drop what no later frame can attend to (streaming).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtseg.segment.prompts import Prompt
from rtseg.segment.sam2.model import Decoded, Features, TrackerModel
from rtseg.segment.sam2.ops import sine_pe_1d


@dataclass(slots=True)
class Memory:
    """What SAM 2 keeps per object and frame ("compact_current_out")."""

    out: Decoded
    maskmem: np.ndarray | None = None
    """(1, mem_dim, ...) bfloat16-rounded memory tokens, None until encoded."""

    @property
    def nbytes(self) -> int:
        o = self.out
        return o.ptr.nbytes + o.low.nbytes + o.score.nbytes + (0 if self.maskmem is None else self.maskmem.nbytes)


@dataclass(slots=True)
class ObjectState:
    """One object's memory bank in one video."""

    obj_id: int
    cond: dict[int, Memory] = field(default_factory=dict)
    non_cond: dict[int, Memory] = field(default_factory=dict)
    point_inputs: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """Frame → (points in model pixels, labels) given so far on that frame (clicks can add up)."""

    @property
    def started(self) -> bool:
        return bool(self.cond) or bool(self.non_cond)

    def output(self, frame: int) -> Memory | None:
        return self.cond.get(frame) or self.non_cond.get(frame)

    @property
    def nbytes(self) -> int:
        return sum(m.nbytes for m in [*self.cond.values(), *self.non_cond.values()])


def select_closest_cond_frames(frame_idx: int, cond: dict[int, Memory],
                               max_num: int) -> tuple[dict[int, Memory], dict[int, Memory]]:
    """SAM 2's ``select_closest_cond_frames``: which conditioning frames to attend to."""
    if max_num == -1 or len(cond) <= max_num:
        return dict(cond), {}
    selected: dict[int, Memory] = {}
    before = max((t for t in cond if t < frame_idx), default=None)
    if before is not None:
        selected[before] = cond[before]
    after = min((t for t in cond if t >= frame_idx), default=None)
    if after is not None:
        selected[after] = cond[after]
    remain = max_num - len(selected)
    rest = sorted((t for t in cond if t not in selected), key=lambda t: abs(t - frame_idx))[:remain]
    selected.update((t, cond[t]) for t in rest)
    return selected, {t: m for t, m in cond.items() if t not in selected}


def condition(model: TrackerModel, obj: ObjectState, frame_idx: int, feats: Features,
              num_frames: int | None) -> np.ndarray:
    """``_prepare_memory_conditioned_features`` for a non-initial frame (forward tracking)."""
    s, c = model.settings, model.constants
    num_maskmem = s["num_maskmem"]
    mem_dim = s["mem_dim"]
    selected, unselected = select_closest_cond_frames(frame_idx, obj.cond, s["max_cond_frames_in_attn"])
    t_pos_and_prevs: list[tuple[int, Memory | None]] = [(0, m) for m in selected.values()]
    stride = s["memory_temporal_stride_for_eval"]
    for t_pos in range(1, num_maskmem):
        t_rel = num_maskmem - t_pos
        prev = frame_idx - t_rel if t_rel == 1 else (frame_idx - 2) // stride * stride - (t_rel - 2) * stride
        out = obj.non_cond.get(prev)
        if out is None:
            out = unselected.get(prev)
        t_pos_and_prevs.append((t_pos, out))

    mems, poses = [], []
    for t_pos, prev_mem in t_pos_and_prevs:
        if prev_mem is None or prev_mem.maskmem is None:
            continue
        mems.append(prev_mem.maskmem.reshape(1, mem_dim, -1).transpose(2, 0, 1))
        poses.append(model.maskmem_pos + c["maskmem_tpos_enc"][num_maskmem - t_pos - 1])

    num_ptr_tokens = 0
    if s["use_obj_ptrs_in_encoder"]:
        max_ptrs = min(num_frames, s["max_obj_ptrs_in_encoder"]) if num_frames else s["max_obj_ptrs_in_encoder"]
        if s["only_obj_ptrs_in_the_past_for_eval"]:
            ptr_cond = {t: m for t, m in selected.items() if t <= frame_idx}
        else:
            ptr_cond = selected
        pos_and_ptrs = [
            ((frame_idx - t) if s["use_signed_tpos_enc_to_obj_ptrs"] else abs(frame_idx - t), m.out.ptr)
            for t, m in ptr_cond.items()
        ]
        for t_diff in range(1, max_ptrs):
            t = frame_idx - t_diff
            if t < 0 or (num_frames is not None and t >= num_frames):
                break
            m = obj.non_cond.get(t, unselected.get(t))
            if m is not None:
                pos_and_ptrs.append((t_diff, m.out.ptr))
        if pos_and_ptrs:
            hidden = s["hidden_dim"]
            pos_list = np.array([p for p, _ in pos_and_ptrs], np.float32)
            ptrs = np.stack([p for _, p in pos_and_ptrs], axis=0)  # (P, 1, C)
            if s["add_tpos_enc_to_obj_ptrs"]:
                t_diff_max = np.float32(max(max_ptrs - 1, 1))
                tpos_dim = hidden if s["proj_tpos_enc_in_obj_ptrs"] else mem_dim
                obj_pos = sine_pe_1d(pos_list / t_diff_max, tpos_dim)
                if s["proj_tpos_enc_in_obj_ptrs"]:
                    obj_pos = obj_pos @ c["obj_ptr_tpos_proj_weight"].T + c["obj_ptr_tpos_proj_bias"]
                obj_pos = obj_pos[:, None, :].astype(np.float32)
            else:
                obj_pos = np.zeros((len(pos_list), 1, mem_dim), np.float32)
            if mem_dim < hidden:
                split = hidden // mem_dim
                ptrs = ptrs.reshape(-1, 1, split, mem_dim).transpose(0, 2, 1, 3).reshape(-1, 1, mem_dim)
                obj_pos = np.repeat(obj_pos, split, axis=0)
            mems.append(ptrs.astype(np.float32))
            poses.append(obj_pos)
            num_ptr_tokens = ptrs.shape[0]

    memory = np.concatenate(mems, axis=0)
    memory_pos = np.concatenate(poses, axis=0)
    return model.attend(feats, memory, memory_pos, num_ptr_tokens)


def apply_prompt(model: TrackerModel, obj: ObjectState, prompt: Prompt, feats: Features, hw: tuple[int, int], *,
                 is_init: bool, current: Decoded | None, num_frames: int | None,
                 pix_feat: np.ndarray | None = None) -> tuple[Decoded, np.ndarray | None]:
    """One prompt on its frame for one object: the new output, and the frame's conditioned embedding
    (computed at most once per frame and object; pass it back in for the next prompt on the frame).

    ``is_init``: the object has no output on this frame (the prompt alone segments it, no memory);
    otherwise ``current`` is the frame's output so far and a click corrects it (its logits are the
    decoder's mask input). A mask replaces everything before it on the frame; clicks with
    ``prompt.add`` join the points given on the frame before.
    """
    frame = prompt.frame
    mask = prompt.mask_array()
    if mask is not None:
        current = model.mask_as_output(feats, model.model_mask(mask, hw))
        obj.point_inputs.pop(frame, None)
    if not prompt.points and prompt.box is None:
        assert current is not None
        return current, pix_feat
    pts = np.asarray(prompt.points, np.float32).reshape(-1, 2)
    lbl = np.asarray(prompt.labels, np.int32).reshape(-1)
    if prompt.box is not None:  # a box goes first, as two corner points labelled 2 and 3
        pts = np.concatenate([np.asarray(prompt.box, np.float32).reshape(2, 2), pts], axis=0)
        lbl = np.concatenate([np.array([2, 3], np.int32), lbl])
    pts = model.model_points(pts, hw)
    old = obj.point_inputs.get(frame) if prompt.add else None
    if old is not None:
        pts = np.concatenate([old[0], pts], axis=0)
        lbl = np.concatenate([old[1], lbl])
    obj.point_inputs[frame] = (pts, lbl)
    prev = None
    if current is not None and current.low.size:
        prev = np.clip(current.low, -32.0, 32.0).astype(np.float32)
    if pix_feat is None:
        pix_feat = model.no_memory(feats) if is_init else condition(model, obj, frame, feats, num_frames)
    out = model.decode(pix_feat, feats, pts, lbl, prev, model.use_multimask(is_init, len(lbl)))
    return out, pix_feat


def track_object(model: TrackerModel, obj: ObjectState, frame: int, feats: Features,
                 num_frames: int | None) -> tuple[Decoded, np.ndarray]:
    """Track an already started object on a frame it has no prompt on (memory → decoder)."""
    pix_feat = condition(model, obj, frame, feats, num_frames)
    return model.decode(pix_feat, feats, None, None, None, model.use_multimask(False, 0)), pix_feat


def prune(model: TrackerModel, obj: ObjectState, frame_idx: int) -> None:
    """Drop what no later frame can attend to: spatial memories beyond the last ``num_maskmem - 1``
    frames (times the stride) and pointers beyond ``max_obj_ptrs - 1``."""
    s = model.settings
    keep_mem = (s["num_maskmem"] - 1) * s["memory_temporal_stride_for_eval"] + 1
    keep_ptr = s["max_obj_ptrs_in_encoder"]
    for t in list(obj.non_cond):
        age = frame_idx - t
        m = obj.non_cond[t]
        if age >= max(keep_mem, keep_ptr):
            del obj.non_cond[t]
        else:
            if age >= keep_mem:
                m.maskmem = None
            if age >= 1:  # only the current frame's logits are reused
                m.out = m.out._replace(low=m.out.low[:, :, :0, :0])
    obj.point_inputs = {t: v for t, v in obj.point_inputs.items() if t == frame_idx}
