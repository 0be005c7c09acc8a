"""EdgeTAM's own PyTorch code on the calls tests/test_edgetam.py makes rtseg's tracker do.

Runs in the EdgeTAM environment (``.ci/install-edgetam.sh``: its ``sam2`` is EdgeTAM's code), with
``tests/edgetam_harness`` on ``PYTHONPATH``, never in the test process (whose ``sam2`` is Meta's)::

    python tests/edgetam_reference.py tracking MODEL_DIR FRAMES_DIR OUT.npz
    python tests/edgetam_reference.py graphs MODEL_DIR OUT.npz

``tracking``: EdgeTAM's ``SAM2VideoPredictor`` built from ``edgetam.yaml`` and the export's
``checkpoint.pt`` runs every scenario in :data:`SCENARIOS` plus the interactive sequence and writes,
per scenario and frame, the low-resolution logits it keeps (``pred_masks``) and the video-resolution
masks it returns. ``graphs``: EdgeTAM's modules, called the way ``SAM2Base`` calls them (no rtseg
wrapper, no export rewrite), on seeded random inputs; writes the inputs and outputs per graph.

The prompts and scenario names are imported by the test, so both sides use the same calls.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

POINT = [[210.0, 350.0]]  # on the bed, in 960x540 video pixels
NEGATIVE = [[700.0, 120.0]]
BOX = [400.0, 100.0, 700.0, 400.0]
CORRECTION = [[600.0, 300.0]]  # an exclude click on CORRECTION_FRAME, already tracked
CORRECTION_FRAME = 3
NUM_FRAMES = 6
SCENARIOS = ("one_point", "two_objects", "correction", "mask")


def mask_prompt(h: int = 540, w: int = 960) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((xx - 480) / 200.0) ** 2 + ((yy - 270) / 130.0) ** 2 <= 1.0


def _forward_2d_any_batch(self: Any, x: Any) -> Any:
    """EdgeTAM's ``PerceiverResampler.forward_2d`` with ``reshape`` where it has ``view``.

    EdgeTAM's own line ``latents_2d.unsqueeze(0).expand(B, -1, -1).view(-1, 1, C)`` fails for a batch
    of more than one (an expanded tensor has stride 0 on the batch axis), i.e. whenever its predictor
    encodes the memories of two objects together (facebookresearch/EdgeTAM issue #15, open). ``reshape``
    copies where ``view`` cannot: the same values, so the reference can run two objects at all.
    rtseg's graph runs one object at a time (and ONNX's Reshape has no strides).
    """
    import math

    from sam2.modeling.perceiver import window_partition

    b, c, h, _w = x.shape
    latents_2d = self.latents_2d.unsqueeze(0).expand(b, -1, -1).reshape(-1, 1, c)
    num_window = int(math.sqrt(self.num_latents_2d))
    window_size = h // num_window
    x = window_partition(x.permute(0, 2, 3, 1), window_size).flatten(1, 2)
    for layer in self.layers:
        latents_2d = layer(latents_2d, x)
    latents_2d = latents_2d.view(b, num_window, num_window, c).permute(0, 3, 1, 2)
    pos_2d = self.position_encoding(latents_2d).permute(0, 2, 3, 1).flatten(1, 2)
    latents_2d = self.norm(latents_2d.permute(0, 2, 3, 1).flatten(1, 2))
    return latents_2d, pos_2d


def _predictor(model_dir: Path) -> Any:
    import io
    from contextlib import redirect_stdout

    from sam2.build_sam import build_sam2_video_predictor
    from sam2.modeling.perceiver import PerceiverResampler

    PerceiverResampler.forward_2d = _forward_2d_any_batch

    with redirect_stdout(io.StringIO()):  # EdgeTAM's build_sam prints progress lines
        pred = build_sam2_video_predictor("configs/edgetam.yaml", str(model_dir / "checkpoint.pt"), device="cpu")
    # rtseg does not fill holes in masks (as Meta's SAM 2 without its compiled extension); EdgeTAM's package
    # fills them with OpenCV on CPU (rtseg's dependencies bring OpenCV), so hole filling is switched off
    # here. (build_sam appends fill_hole_area=8 after any hydra override, hence the attribute.)
    pred.fill_hole_area = 0
    return pred


def _stored(state: dict[str, Any], frame: int, temp: bool = False) -> np.ndarray:
    """The predictor's ``pred_masks`` for every object on ``frame`` (what its memory used)."""
    out = []
    for k in sorted(state["output_dict_per_obj"]):
        # a prompt's result waits in the temporary store until the next propagation; an object without
        # a prompt on this frame has its tracked result there
        stores = [state["temp_output_dict_per_obj"][k]] if temp else []
        stores.append(state["output_dict_per_obj"][k])
        entry = next(e for store in stores for e in (store["cond_frame_outputs"].get(frame),
                                                     store["non_cond_frame_outputs"].get(frame)) if e is not None)
        out.append(entry["pred_masks"].float().numpy())
    return np.concatenate(out)


def run_tracking(model_dir: Path, frames_dir: Path, out_path: Path) -> None:
    import torch

    torch.set_num_threads(2)
    pred = _predictor(model_dir)
    results: dict[str, np.ndarray] = {}

    def keep(name: str, frame: int, low: np.ndarray, video: Any) -> None:
        results[f"{name}/{frame}/low"] = low.astype(np.float32)
        results[f"{name}/{frame}/mask"] = video.numpy()[:, 0] > 0

    def propagate(name: str, state: dict[str, Any], **kwargs: Any) -> None:
        for frame, _ids, video in pred.propagate_in_video(state, **kwargs):
            keep(name, frame, _stored(state, frame), video)

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        for name in SCENARIOS:
            state = pred.init_state(str(frames_dir))
            if name == "mask":
                pred.add_new_mask(state, 0, 1, mask_prompt())
            else:
                pred.add_new_points_or_box(state, 0, 1, points=POINT, labels=[1])
            if name == "two_objects":
                pred.add_new_points_or_box(state, 0, 2, box=BOX)
            if name == "correction":
                propagate(name, state, max_frame_num_to_track=CORRECTION_FRAME)  # frames 0..3
                _, _, video = pred.add_new_points_or_box(state, CORRECTION_FRAME, 1, points=CORRECTION, labels=[0])
                keep(name, CORRECTION_FRAME, _stored(state, CORRECTION_FRAME, temp=True), video)
                propagate(name, state, start_frame_idx=CORRECTION_FRAME + 1)
            else:
                propagate(name, state)

        # the interactive sequence as EdgeTAM's predictor is configured, then with corrections as conditioning
        run_interactive(pred, frames_dir, "interactive", results, _stored)
        pred.add_all_frames_to_correct_as_cond = True
        run_interactive(pred, frames_dir, "interactive_cond", results, _stored)
        pred.add_all_frames_to_correct_as_cond = False
    np.savez_compressed(out_path, **results)


def run_interactive(pred: Any, frames_dir: Path, prefix: str, results: dict[str, np.ndarray], stored: Any) -> None:
    """Click, click again, a second object's box, propagate, a correction on a tracked frame, re-propagate."""
    state = pred.init_state(str(frames_dir))
    steps = [
        ("click1", lambda: pred.add_new_points_or_box(state, 0, 1, points=POINT, labels=[1])),
        ("click2", lambda: pred.add_new_points_or_box(state, 0, 1, points=NEGATIVE, labels=[0],
                                                      clear_old_points=False)),
        ("box", lambda: pred.add_new_points_or_box(state, 0, 2, box=BOX)),
    ]
    for key, call in steps:
        results[f"{prefix}/{key}/mask"] = call()[2].numpy()[:, 0] > 0
        results[f"{prefix}/{key}/low"] = stored(state, 0, temp=True)
    for frame, _ids, video in pred.propagate_in_video(state):
        results[f"{prefix}/first/{frame}/low"], results[f"{prefix}/first/{frame}/mask"] = (
            stored(state, frame), video.numpy()[:, 0] > 0)
    _, _, video = pred.add_new_points_or_box(state, CORRECTION_FRAME, 1, points=CORRECTION, labels=[0],
                                             clear_old_points=False)
    results[f"{prefix}/correct/mask"] = video.numpy()[:, 0] > 0
    results[f"{prefix}/correct/low"] = stored(state, CORRECTION_FRAME, temp=True)
    for frame, _ids, video in pred.propagate_in_video(state, start_frame_idx=CORRECTION_FRAME):
        results[f"{prefix}/again/{frame}/low"], results[f"{prefix}/again/{frame}/mask"] = (
            stored(state, frame), video.numpy()[:, 0] > 0)


def run_graphs(model_dir: Path, out_path: Path) -> None:
    """Each graph's computation by EdgeTAM's own modules on seeded random inputs."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    model = _predictor(model_dir)
    gen = torch.Generator().manual_seed(1)
    s, e = model.image_size, model.image_size // model.backbone_stride
    c, mem = model.hidden_dim, model.mem_dim
    res: dict[str, np.ndarray] = {}

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        image = rnd(1, 3, s, s)
        fpn = model.forward_image(image)["backbone_fpn"]  # levels 0/1 already through conv_s0/conv_s1
        res.update({"image_encoder/in/image": image, "image_encoder/out/vision_features": fpn[-1],
                    "image_encoder/out/high_res_feat_0": fpn[0], "image_encoder/out/high_res_feat_1": fpn[1]})

        vision, feat0, feat1 = fpn[-1], fpn[0], fpn[1]
        embed = vision + rnd(1, c, e, e) * 0.1
        coords = torch.tensor([[[300.0, 500.0], [700.0, 200.0]]])
        labels = torch.tensor([[1, 0]], dtype=torch.int32)
        mask_in = rnd(1, 1, 4 * e, 4 * e)
        for case, masks in (("points", None), ("points_mask", mask_in)):
            pe = model.sam_prompt_encoder
            sparse, dense = pe(points=(coords, labels), boxes=None, masks=masks)  # appends the padding point
            low, iou, tokens, obj = model.sam_mask_decoder.predict_masks(
                image_embeddings=embed, image_pe=pe.get_dense_pe(), sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense, repeat_image=False, high_res_features=[feat0, feat1])
            pad_c = torch.cat([coords, torch.zeros(1, 1, 2)], dim=1)
            pad_l = torch.cat([labels, -torch.ones(1, 1, dtype=torch.int32)], dim=1)
            res.update({
                f"mask_decoder_{case}/in/image_embed": embed, f"mask_decoder_{case}/in/high_res_feat_0": feat0,
                f"mask_decoder_{case}/in/high_res_feat_1": feat1, f"mask_decoder_{case}/in/point_coords": pad_c,
                f"mask_decoder_{case}/in/point_labels": pad_l,
                f"mask_decoder_{case}/in/mask_input": mask_in if masks is not None else torch.zeros_like(mask_in),
                f"mask_decoder_{case}/in/has_mask_input": torch.ones(1) if masks is not None else torch.zeros(1),
                f"mask_decoder_{case}/out/masks": low, f"mask_decoder_{case}/out/iou_scores": iou,
                f"mask_decoder_{case}/out/obj_ptrs": model.obj_ptr_proj(tokens),
                f"mask_decoder_{case}/out/object_score_logits": obj,
            })

        logits = rnd(1, 1, 4 * e, 4 * e) * 8
        for case, binarize, score in (("sigmoid", False, 2.0), ("binarized", True, -3.0)):
            high = F.interpolate(logits, size=(s, s), mode="bilinear", align_corners=False)
            feats, pos = model._encode_new_memory(
                current_vision_feats=[vision.flatten(2).permute(2, 0, 1)], feat_sizes=[(e, e)],
                pred_masks_high_res=high, object_score_logits=torch.tensor([[score]]), is_mask_from_pts=binarize)
            res.update({
                f"memory_encoder_{case}/in/vision_features": vision, f"memory_encoder_{case}/in/mask_logits": logits,
                f"memory_encoder_{case}/in/binarize": torch.tensor([1.0 if binarize else 0.0]),
                f"memory_encoder_{case}/in/object_score_logits": torch.tensor([[score]]),
                f"memory_encoder_{case}/out/maskmem_features": feats.permute(0, 2, 1),  # (B, T, C) -> (B, C, T)
                f"memory_encoder_{case}/pos": pos[0].permute(0, 2, 1),
            })

        tokens = model.spatial_perceiver.num_latents + model.spatial_perceiver.num_latents_2d
        for case, frames, ptrs in (("two_frames_ptrs", 2, 16), ("seven_frames_no_ptrs", 7, 0)):
            cur, cur_pos = rnd(e * e, 1, c), rnd(e * e, 1, c)
            memory, memory_pos = rnd(frames * tokens + ptrs, 1, mem), rnd(frames * tokens + ptrs, 1, mem)
            out = model.memory_attention(curr=[cur], curr_pos=[cur_pos], memory=memory, memory_pos=memory_pos,
                                         num_obj_ptr_tokens=ptrs, num_spatial_mem=frames)
            res.update({
                f"memory_attention_{case}/in/current_features": cur, f"memory_attention_{case}/in/current_pos": cur_pos,
                f"memory_attention_{case}/in/memory": memory, f"memory_attention_{case}/in/memory_pos": memory_pos,
                f"memory_attention_{case}/in/num_obj_ptr_tokens": torch.tensor(ptrs, dtype=torch.int64),
                f"memory_attention_{case}/out/conditioned_features": out.permute(1, 2, 0).reshape(1, c, e, e),
            })
    np.savez(out_path, **{k: v.detach().numpy() for k, v in res.items()})


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "tracking":
        run_tracking(Path(args[0]), Path(args[1]), Path(args[2]))
    elif mode == "graphs":
        run_graphs(Path(args[0]), Path(args[1]))
    else:
        sys.exit(f"unknown mode {mode!r}: expected tracking or graphs")
