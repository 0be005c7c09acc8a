"""Export SAM 2 / SAM 2.1 checkpoints to the ONNX graphs rtseg's tracker runs.

Four graphs cover video tracking; everything that is plain bookkeeping (choosing memories, temporal
encodings, multimask choice, occlusion gating) stays in numpy in :mod:`rtseg.segment.sam2.tracker`:

``image_encoder.onnx``
    normalised image (1, 3, S, S) -> ``vision_features`` (1, 256, S/16, S/16) and the two
    high-resolution maps the mask decoder uses, already projected by its ``conv_s0``/``conv_s1``.
``mask_decoder.onnx``
    prompt encoder + mask decoder: returns *all four* mask candidates, their IoU scores, the object
    pointer of each output token and the object score, so the tracker can apply SAM 2's multimask
    and stability rules itself.
``memory_encoder.onnx``
    low-resolution mask logits -> upsampled, sigmoid-or-binarised, scaled -> memory features, with
    the no-object embedding already added.
``memory_attention.onnx``
    current features attend to a variable-length memory (spatial memories, then object-pointer
    tokens); RoPE is rewritten with real cos/sin (:mod:`rtseg.tools.sam2.rope`).

``constants.npz`` holds the learned tensors the bookkeeping needs and ``manifest.json`` describes it
all (see :mod:`rtseg.segment.sam2.manifest`). ``variant="edgetam"`` exports EdgeTAM to the same four
graphs and constants (:mod:`rtseg.tools.sam2.edgetam`; needs EdgeTAM's code in place of Meta's).
torch, onnx and the ``sam2`` package are imported only
inside the functions here, so ``import rtseg`` never needs them.

>>> from rtseg.tools.sam2.export import export_sam2        # doctest: +SKIP
>>> export_sam2("models/sam2-tiny", "tiny", 512, random_seed=0)  # doctest: +SKIP
PosixPath('models/sam2-tiny')
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rtseg.errors import ConfigError, ModelError
from rtseg.segment.models import sha256_file
from rtseg.segment.sam2.manifest import (
    CONSTANTS_FILE,
    GRAPH_FILES,
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    VARIANTS,
)
from rtseg.tools.sam2.checkpoint import load_checkpoint

if TYPE_CHECKING:
    import torch

OPSET = 17
MS_OPSET = 1
FUSED_GRAPHS = ("image_encoder",)


def config_for(variant: str, generation: str) -> str:
    """Hydra config name inside the ``sam2`` package for a variant and generation ("2" or "2.1")."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown SAM 2 variant {variant!r}; expected one of {', '.join(VARIANTS)} or edgetam")
    letter = VARIANTS[variant]
    if generation == "2.1":
        return f"configs/sam2.1/sam2.1_hiera_{letter}.yaml"
    if generation == "2":
        return f"configs/sam2/sam2_hiera_{letter}.yaml"
    raise ConfigError(f"unknown SAM 2 generation {generation!r}; expected '2' or '2.1'")


def _detect_generation(state_dict: dict[str, Any]) -> str:
    """SAM 2.1 checkpoints carry ``no_obj_embed_spatial`` and a pointer temporal projection."""
    return "2.1" if "no_obj_embed_spatial" in state_dict else "2"


def _hydra_overrides(image_size: int) -> list[str]:
    # RoPE tables are built for 1024 in __init__ and rebuilt lazily on the first forward at other
    # sizes; building them at the right size avoids that mutation altogether.
    side = image_size // 16
    return [
        f"++model.image_size={image_size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{side},{side}]",
    ]


def build_model(
    variant: str,
    image_size: int,
    checkpoint: Path | None,
    random_seed: int | None,
) -> tuple[torch.nn.Module, str, dict[str, Any]]:
    """Build ``SAM2VideoPredictor`` (CPU, eval) with SAM 2's own defaults; return it, its config
    name and its state dict. With ``random_seed`` the weights are the modules' seeded default init.
    ``variant="edgetam"`` builds EdgeTAM's predictor from its ``edgetam.yaml`` instead."""
    import torch

    from rtseg.tools.sam2.edgetam import build_edgetam, check_code

    if (checkpoint is None) == (random_seed is None):
        raise ConfigError("give exactly one of a checkpoint or a random seed")
    if variant != "edgetam":
        config_for(variant, "2.1")  # an unknown variant fails here, before anything is imported
    if image_size % 64 != 0 or image_size <= 0:
        raise ConfigError(f"image size must be a positive multiple of 64, got {image_size}")
    if checkpoint is not None and not checkpoint.is_file():
        raise ModelError(f"checkpoint not found: {checkpoint}")
    check_code(variant)
    if variant == "edgetam":
        model, config = build_edgetam(image_size, checkpoint, random_seed)
        model.eval()
        return model, config, {k: v.detach().clone() for k, v in model.state_dict().items()}

    from sam2.build_sam import build_sam2_video_predictor

    if checkpoint is not None:
        generation = _detect_generation(load_checkpoint(checkpoint, "a SAM 2"))
        config = config_for(variant, generation)
        try:
            model = build_sam2_video_predictor(
                config, str(checkpoint), device="cpu", hydra_overrides_extra=_hydra_overrides(image_size)
            )
        except RuntimeError as exc:
            raise ModelError(f"{checkpoint} does not match the {variant} SAM {generation} architecture: {exc}") from exc
    else:
        config = config_for(variant, "2.1")
        torch.manual_seed(int(random_seed))  # type: ignore[arg-type]
        model = build_sam2_video_predictor(
            config, None, device="cpu", hydra_overrides_extra=_hydra_overrides(image_size)
        )
    model.eval()
    return model, config, {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- graph wrappers ------------------------------------------------------------------------------


def _wrappers(model: Any, fused: bool = False) -> dict[str, torch.nn.Module]:
    """The four export modules, each a thin view over ``model``'s own submodules."""
    import torch
    import torch.nn.functional as F

    from rtseg.tools.sam2.edgetam import is_edgetam, keep_input, memory_tokens
    from rtseg.tools.sam2.fused import can_fold_high_res, image_encoder_forward

    folded = image_encoder_forward(model) if fused and can_fold_high_res(model) else None
    perceiver = is_edgetam(model)  # EdgeTAM: each memory frame compressed to `tokens` latents
    tokens = memory_tokens(model)

    class ImageEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            if folded is not None:
                return folded(image)  # type: ignore[no-any-return]
            fpn = self.model.forward_image(image)["backbone_fpn"]
            return fpn[-1], fpn[0], fpn[1]

    class MaskDecoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            image_embed: torch.Tensor,
            high_res_feat_0: torch.Tensor,
            high_res_feat_1: torch.Tensor,
            point_coords: torch.Tensor,
            point_labels: torch.Tensor,
            mask_input: torch.Tensor,
            has_mask_input: torch.Tensor,
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            m = self.model
            pe = m.sam_prompt_encoder
            # point_coords already holds SAM's padding point (label -1), as SAM2Base appends it
            sparse = pe._embed_points(point_coords, point_labels, pad=False)
            b = image_embed.shape[0]
            no_mask = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                b, -1, image_embed.shape[2], image_embed.shape[3]
            )
            dense = torch.where(has_mask_input.reshape(-1, 1, 1, 1) > 0, pe._embed_masks(mask_input), no_mask)
            masks, iou, tokens, obj_score = m.sam_mask_decoder.predict_masks(
                image_embeddings=image_embed,
                image_pe=pe.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                repeat_image=False,
                high_res_features=[high_res_feat_0, high_res_feat_1],
            )
            obj_ptr = m.obj_ptr_proj(tokens)
            return masks, iou, obj_ptr, obj_score

    class MemoryEncoder(torch.nn.Module):
        """``_encode_new_memory`` from the low-res logits: mask for memory, memory encoder, no-object
        spatial embedding and, for EdgeTAM, the spatial perceiver: ``(B, mem_dim, e, e)`` or
        ``(B, mem_dim, T)`` tokens, which the tracker reads alike."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            vision_features: torch.Tensor,
            mask_logits: torch.Tensor,
            binarize: torch.Tensor,
            object_score_logits: torch.Tensor,
        ) -> torch.Tensor:
            m = self.model
            high = F.interpolate(mask_logits, size=(m.image_size, m.image_size), mode="bilinear", align_corners=False)
            mask = torch.where(binarize.reshape(-1, 1, 1, 1) > 0, (high > 0).float(), torch.sigmoid(high))
            if m.sigmoid_scale_for_mem_enc != 1.0:
                mask = mask * m.sigmoid_scale_for_mem_enc
            if m.sigmoid_bias_for_mem_enc != 0.0:
                mask = mask + m.sigmoid_bias_for_mem_enc
            out = m.memory_encoder(vision_features, mask, skip_mask_sigmoid=True)
            feats = out["vision_features"]
            if m.no_obj_embed_spatial is not None:
                absent = 1 - (object_score_logits > 0).float()
                feats = feats + absent[..., None, None] * m.no_obj_embed_spatial[..., None, None]
            else:  # SAM 2.0, EdgeTAM
                feats = feats + keep_input(object_score_logits)
            if not perceiver:
                return feats
            latents, _ = m.spatial_perceiver(feats, out["vision_pos_enc"][0])  # (B, T, mem_dim)
            return latents.permute(0, 2, 1)

    class MemoryAttention(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self,
            current_features: torch.Tensor,
            current_pos: torch.Tensor,
            memory: torch.Tensor,
            memory_pos: torch.Tensor,
            num_obj_ptr_tokens: torch.Tensor,
        ) -> torch.Tensor:
            frames: dict[str, torch.Tensor] = {}
            if perceiver:  # RoPEAttentionv2 rotates each memory frame's 2-D latents: how many frames there are
                frames["num_spatial_mem"] = torch.div(memory.shape[0] - num_obj_ptr_tokens, tokens,
                                                      rounding_mode="floor")
            out = self.model.memory_attention(
                curr=[current_features],
                curr_pos=[current_pos],
                memory=memory,
                memory_pos=memory_pos,
                num_obj_ptr_tokens=num_obj_ptr_tokens,
                **frames,
            )
            _hw, b, c = out.shape
            side = self.model.image_size // self.model.backbone_stride
            return out.permute(1, 2, 0).reshape(b, c, side, side)

    return {
        "image_encoder": ImageEncoder().eval(),
        "mask_decoder": MaskDecoder().eval(),
        "memory_encoder": MemoryEncoder().eval(),
        "memory_attention": MemoryAttention().eval(),
    }


def _example_inputs(model: Any) -> dict[str, dict[str, tuple[Any, dict[int, str]]]]:
    """Example tensors and dynamic axes per graph input (dict order = graph input order)."""
    import torch

    from rtseg.tools.sam2.edgetam import memory_tokens

    s = model.image_size
    e = s // model.backbone_stride
    c, mem = model.hidden_dim, model.mem_dim
    t = memory_tokens(model)  # per memory frame: e * e, or the perceiver's latents
    gen = torch.Generator().manual_seed(0)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen)

    return {
        "image_encoder": {"image": (rnd(1, 3, s, s), {})},
        "mask_decoder": {
            "image_embed": (rnd(1, c, e, e), {0: "batch"}),
            "high_res_feat_0": (rnd(1, c // 8, 4 * e, 4 * e), {0: "batch"}),
            "high_res_feat_1": (rnd(1, c // 4, 2 * e, 2 * e), {0: "batch"}),
            "point_coords": (torch.rand(1, 3, 2, generator=gen) * s, {0: "batch", 1: "points"}),
            "point_labels": (torch.tensor([[1, 0, -1]], dtype=torch.int32), {0: "batch", 1: "points"}),
            "mask_input": (rnd(1, 1, 4 * e, 4 * e), {0: "batch"}),
            "has_mask_input": (torch.ones(1), {0: "batch"}),
        },
        "memory_encoder": {
            "vision_features": (rnd(1, c, e, e), {0: "batch"}),
            "mask_logits": (rnd(1, 1, 4 * e, 4 * e), {0: "batch"}),
            "binarize": (torch.zeros(1), {0: "batch"}),
            "object_score_logits": (torch.ones(1, 1), {0: "batch"}),
        },
        "memory_attention": {
            "current_features": (rnd(e * e, 1, c), {}),
            "current_pos": (rnd(e * e, 1, c), {}),
            "memory": (rnd(2 * t + 8, 1, mem), {0: "memory_tokens"}),
            "memory_pos": (rnd(2 * t + 8, 1, mem), {0: "memory_tokens"}),
            "num_obj_ptr_tokens": (torch.tensor(8, dtype=torch.int64), {}),
        },
    }


OUTPUT_NAMES = {
    "image_encoder": ["vision_features", "high_res_feat_0", "high_res_feat_1"],
    "mask_decoder": ["masks", "iou_scores", "obj_ptrs", "object_score_logits"],
    "memory_encoder": ["maskmem_features"],
    "memory_attention": ["conditioned_features"],
}
OUTPUT_DYNAMIC = {
    "mask_decoder": {
        "masks": {0: "batch"},
        "iou_scores": {0: "batch"},
        "obj_ptrs": {0: "batch"},
        "object_score_logits": {0: "batch"},
    },
    "memory_encoder": {"maskmem_features": {0: "batch"}},
}


def _constants(model: Any) -> dict[str, np.ndarray]:
    """Learned and fixed tensors the numpy side of the tracker needs."""
    import torch

    from rtseg.tools.sam2.edgetam import is_edgetam, perceiver_pos_enc

    s = model.image_size
    e = s // model.backbone_stride

    def arr(t: torch.Tensor) -> np.ndarray:
        return t.detach().float().cpu().numpy().copy()

    with torch.no_grad():
        dummy = torch.zeros(1, model.hidden_dim, e, e)
        vision_pos = model.image_encoder.neck.position_encoding(dummy)
        mem_dummy = torch.zeros(1, model.mem_dim, e, e)
        maskmem_pos = model.memory_encoder.position_encoding(mem_dummy)
        if is_edgetam(model):  # the perceiver's output tokens: (1, mem, T)
            maskmem_pos = perceiver_pos_enc(model)
        out: dict[str, np.ndarray] = {
            "vision_pos_enc": arr(vision_pos),  # (1, C, e, e)
            "maskmem_pos_enc": arr(maskmem_pos),  # (1, mem, e, e); EdgeTAM (1, mem, T)
            "maskmem_tpos_enc": arr(model.maskmem_tpos_enc),  # (num_maskmem, 1, 1, mem)
            "no_mem_embed": arr(model.no_mem_embed),  # (1, 1, C)
            "no_mem_pos_enc": arr(model.no_mem_pos_enc),
            "mask_downsample_weight": arr(model.mask_downsample.weight),  # (1, 1, 4, 4)
            "mask_downsample_bias": arr(model.mask_downsample.bias),  # (1,)
        }
        if hasattr(model, "no_obj_ptr"):
            out["no_obj_ptr"] = arr(model.no_obj_ptr)  # (1, C)
        if isinstance(model.obj_ptr_tpos_proj, torch.nn.Linear):
            out["obj_ptr_tpos_proj_weight"] = arr(model.obj_ptr_tpos_proj.weight)  # (mem, C)
            out["obj_ptr_tpos_proj_bias"] = arr(model.obj_ptr_tpos_proj.bias)
    return out


def _model_settings(model: Any) -> dict[str, Any]:
    """The SAM2VideoPredictor settings the tracker reproduces (as built, incl. post-processing)."""
    dec = model.sam_mask_decoder
    return {
        "hidden_dim": int(model.hidden_dim),
        "mem_dim": int(model.mem_dim),
        "backbone_stride": int(model.backbone_stride),
        "num_maskmem": int(model.num_maskmem),
        "max_obj_ptrs_in_encoder": int(model.max_obj_ptrs_in_encoder),
        "max_cond_frames_in_attn": int(model.max_cond_frames_in_attn),
        "memory_temporal_stride_for_eval": int(model.memory_temporal_stride_for_eval),
        "directly_add_no_mem_embed": bool(model.directly_add_no_mem_embed),
        "use_obj_ptrs_in_encoder": bool(model.use_obj_ptrs_in_encoder),
        "add_tpos_enc_to_obj_ptrs": bool(model.add_tpos_enc_to_obj_ptrs),
        "proj_tpos_enc_in_obj_ptrs": bool(model.proj_tpos_enc_in_obj_ptrs),
        "use_signed_tpos_enc_to_obj_ptrs": bool(model.use_signed_tpos_enc_to_obj_ptrs),
        "only_obj_ptrs_in_the_past_for_eval": bool(model.only_obj_ptrs_in_the_past_for_eval),
        "pred_obj_scores": bool(model.pred_obj_scores),
        "fixed_no_obj_ptr": bool(model.fixed_no_obj_ptr),
        "soft_no_obj_ptr": bool(model.soft_no_obj_ptr),
        "multimask_output_in_sam": bool(model.multimask_output_in_sam),
        "multimask_min_pt_num": int(model.multimask_min_pt_num),
        "multimask_max_pt_num": int(model.multimask_max_pt_num),
        "multimask_output_for_tracking": bool(model.multimask_output_for_tracking),
        "use_multimask_token_for_obj_ptr": bool(model.use_multimask_token_for_obj_ptr),
        "dynamic_multimask_via_stability": bool(dec.dynamic_multimask_via_stability),
        "dynamic_multimask_stability_delta": float(dec.dynamic_multimask_stability_delta),
        "dynamic_multimask_stability_thresh": float(dec.dynamic_multimask_stability_thresh),
        "binarize_mask_from_pts_for_mem_enc": bool(model.binarize_mask_from_pts_for_mem_enc),
        "use_mask_input_as_output_without_sam": bool(model.use_mask_input_as_output_without_sam),
        "non_overlap_masks_for_mem_enc": bool(model.non_overlap_masks_for_mem_enc),
        "non_overlap_masks": bool(model.non_overlap_masks),
        "add_all_frames_to_correct_as_cond": bool(model.add_all_frames_to_correct_as_cond),
        "clear_non_cond_mem_around_input": bool(model.clear_non_cond_mem_around_input),
        "fill_hole_area": int(model.fill_hole_area),
    }


def _export_graph(module: Any, name: str, inputs: dict[str, tuple[Any, dict[int, str]]], path: Path) -> None:
    import torch

    from rtseg.tools.sam2 import fused as fused_ops

    args = tuple(t for t, _ in inputs.values())
    dynamic_axes: dict[str, dict[int, str]] = {k: ax for k, (_, ax) in inputs.items() if ax}
    dynamic_axes.update(OUTPUT_DYNAMIC.get(name, {}))
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated upstream but handles dynamic axes on this model
        # without a rewrite; it is pinned together with torch in the export extra
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            input_names=list(inputs),
            output_names=OUTPUT_NAMES[name],
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            custom_opsets={fused_ops.MS_DOMAIN: MS_OPSET} if name in FUSED_GRAPHS else None,
        )


def _io_spec(path: Path, name: str, inputs: dict[str, tuple[Any, dict[int, str]]]) -> dict[str, list[dict[str, Any]]]:
    """Input/output names, shapes and dtypes of an exported graph.

    Shapes come from running the graph once on the example inputs with ONNX Runtime (the exporter
    leaves some output dims symbolic); the axes declared dynamic keep their names.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    # ORT's shape inference warns that the exporter's symbolic shapes disagree with its own and falls
    # back to a lenient merge ("Error merging shape info for output ..."): noise for the user, and the
    # shapes recorded come from a real run below. Errors (severity 3) are still logged.
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    feeds = {k: t.numpy() for k, (t, _) in inputs.items()}
    results = session.run(None, feeds)
    dynamic_out = OUTPUT_DYNAMIC.get(name, {})

    def shape(arr_shape: tuple[int, ...], axes: dict[int, str]) -> list[int | str]:
        return [axes.get(i, int(d)) for i, d in enumerate(arr_shape)]

    return {
        "inputs": [
            {"name": k, "shape": shape(tuple(t.shape), ax), "dtype": str(t.numpy().dtype)}
            for k, (t, ax) in inputs.items()
        ],
        "outputs": [
            {"name": o.name, "shape": shape(r.shape, dynamic_out.get(o.name, {})), "dtype": str(r.dtype)}
            for o, r in zip(session.get_outputs(), results, strict=True)
        ],
    }


def export_sam2(
    out_dir: str | Path,
    variant: str,
    image_size: int = 1024,
    checkpoint: str | Path | None = None,
    random_seed: int | None = None,
    *,
    fused: bool = True,
    fp16: bool = False,
) -> Path:
    """Export a SAM 2 model to ``out_dir`` and return that directory.

    ``fp16`` stores the four graphs in half precision (:func:`convert_to_fp16`) for the CUDA
    provider, which runs a graph in the precision it is stored in. TensorRT builds fp16 engines
    from the float32 graphs itself (``model.fp16``), so it does not need this.

    Give exactly one of ``checkpoint`` (an official ``.pt`` file, SAM 2 or SAM 2.1, detected from its
    keys) or ``random_seed`` (the real architecture with seeded random weights; the weights are also
    written as ``checkpoint.pt`` in the official format so the PyTorch reference can load them). The
    manifest records which: ``"random_weights": true`` and ``"random_seed"`` for a random export
    (the tracker then warns once, see :func:`~rtseg.segment.sam2.manifest.warn_random_weights`),
    ``"random_weights": false`` for a checkpoint.

    Raises :class:`~rtseg.errors.ConfigError` for a bad variant/size/seed combination and
    :class:`~rtseg.errors.ModelError` for an unreadable or mismatched checkpoint.
    """
    import torch

    from rtseg.tools.sam2 import edgetam

    out = Path(out_dir)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    model, config, state_dict = build_model(variant, int(image_size), ckpt, random_seed)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc}") from exc

    graphs: dict[str, Any] = {}
    wrappers = _wrappers(model, fused)
    examples = _example_inputs(model)
    from rtseg.tools.sam2.fused import fused_attention
    from rtseg.tools.sam2.rope import real_rope

    edgetam_patches = edgetam.export_patches() if variant == "edgetam" else contextlib.nullcontext()
    with torch.no_grad(), (fused_attention() if fused else real_rope()), edgetam_patches:
        for name, module in wrappers.items():
            path = out / GRAPH_FILES[name]
            _export_graph(module, name, examples[name], path)
            graphs[name] = {"file": path.name, "sha256": sha256_file(path), **_io_spec(path, name, examples[name])}

    constants = _constants(model)
    np.savez(out / CONSTANTS_FILE, **constants)  # type: ignore[arg-type]
    files: dict[str, Any] = {
        "file": CONSTANTS_FILE,
        "sha256": sha256_file(out / CONSTANTS_FILE),
        "arrays": {k: list(v.shape) for k, v in constants.items()},
    }

    checkpoint_info: dict[str, Any]
    if random_seed is not None:
        ckpt_path = out / "checkpoint.pt"
        torch.save({"model": state_dict}, ckpt_path)
        checkpoint_info = {"random_seed": int(random_seed), "file": ckpt_path.name, "sha256": sha256_file(ckpt_path)}
    else:
        assert ckpt is not None
        checkpoint_info = {"file": ckpt.name, "sha256": sha256_file(ckpt)}

    import sam2

    is_edgetam = variant == "edgetam"
    manifest = {
        "format": MANIFEST_FORMAT,
        "architecture": "edgetam" if is_edgetam else "sam2",
        "variant": variant,
        "generation": None if is_edgetam else "2.1" if "sam2.1" in config else "2",
        "config": config,
        "image_size": int(image_size),
        "sam2_package_version": getattr(sam2, "__version__", None) or _dist_version("sam2"),
        **({"edgetam_package_version": edgetam.code_version()} if is_edgetam else {}),
        "torch_version": torch.__version__,
        "onnx_opset": OPSET,
        "fused_attention": fused,
        "random_weights": random_seed is not None,
        **({"random_seed": int(random_seed)} if random_seed is not None else {}),
        "checkpoint": checkpoint_info,
        "settings": _model_settings(model),
        "graphs": graphs,
        "constants": files,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    if fp16:
        convert_to_fp16(out, out)
    return out


def convert_to_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write ``src``'s model with its four graphs in float16 to ``dst`` (which may be ``src``).

    ONNX Runtime's converter (``onnxruntime.transformers.float16``) with ``keep_io_types``: the
    graphs still take and return float32, so the tracker is unchanged, and the weights and
    arithmetic inside are float16 (half the memory and bandwidth; tensor cores on NVIDIA GPUs). The
    manifest records ``"precision": "fp16"`` and the new checksums; constants and checkpoint are
    copied as they are.
    """
    import shutil

    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src, dst = Path(src), Path(dst)
    manifest = json.loads((src / MANIFEST_FILE).read_text())
    if manifest.get("precision") == "fp16":
        raise ConfigError(f"{src} is already a float16 export")
    dst.mkdir(parents=True, exist_ok=True)
    for name, g in manifest["graphs"].items():
        model = onnx.load(str(src / g["file"]))
        half = convert_float_to_float16(model, keep_io_types=True)
        tmp = dst / f".{g['file']}.partial"
        onnx.save(half, str(tmp))
        os.replace(tmp, dst / g["file"])
        manifest["graphs"][name]["sha256"] = sha256_file(dst / g["file"])
    if src != dst:
        for item in (manifest["constants"]["file"], manifest["checkpoint"]["file"]):
            if (src / item).exists():
                shutil.copy2(src / item, dst / item)
    manifest["precision"] = "fp16"
    (dst / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return dst


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None
