"""EdgeTAM (Meta, CVPR 2025) exported to the four graphs of rtseg's SAM 2 tracker, unchanged contract.

EdgeTAM is SAM 2 with a RepViT-M1 image encoder (timm ``repvit_m1.dist_in1k``, FPN with ``scalp`` 1)
and a *spatial perceiver* (``PerceiverResampler``) after the memory encoder, which compresses each
memory frame from 64x64 feature tokens to 512: 256 "1-D" latents (cross-attending to the whole frame,
position encoding zero) and 256 "2-D" latents (one per 4x4 window of the 64x64 map, with a sine
position encoding over their 16x16 grid). Its memory attention's cross-attention is
``RoPEAttentionv2``: queries rotated on the 64x64 grid, and per memory frame only the 2-D latents'
keys rotated, on the 16x16 grid; object-pointer tokens are not rotated.

The graphs keep the tracker's contract, so the tracker does not branch on the architecture:

``memory_encoder.onnx``
    the SAM 2 memory encoder, the no-object spatial embedding (when the model has one) added before
    the perceiver exactly as EdgeTAM's ``_encode_new_memory`` does, then the perceiver; output
    ``maskmem_features`` is ``(B, mem_dim, T)`` with T = 512 tokens, channels first, so the tracker's
    ``reshape(1, mem_dim, -1).transpose(2, 0, 1)`` gives EdgeTAM's ``(T, 1, mem_dim)`` token order.
``constants.npz`` ``maskmem_pos_enc``
    the perceiver's output position encoding as ``(1, mem_dim, T)``. It does not depend on the
    memory (zeros, then a sine of the 16x16 grid); :func:`perceiver_pos_enc` checks that on two
    different inputs before writing it.
``memory_attention.onnx``
    the same inputs as SAM 2's; the number of spatial memories that ``RoPEAttentionv2`` needs is
    derived inside the graph as ``(memory tokens - num_obj_ptr_tokens) / T``.

EdgeTAM's code is PyPI's ``edgetam-dimos`` (see ``.ci/install-edgetam.sh`` for its provenance). It
installs under the import name ``sam2``, so it lives in an environment of its own;
:func:`sam2_code` tells the two apart. Only :mod:`rtseg.tools.sam2.export` imports this module.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtseg.errors import ConfigError, ModelError
from rtseg.tools.sam2.checkpoint import load_checkpoint

if TYPE_CHECKING:
    import torch

EDGETAM_CONFIG = "configs/edgetam.yaml"
EDGETAM_IMAGE_SIZE = 1024
EDGETAM_PACKAGE = "edgetam-dimos"
NEEDS_EDGETAM = (
    "--variant edgetam needs EdgeTAM's code, the edgetam-dimos package, which installs as `sam2`: "
    "give it its own environment (.ci/install-edgetam.sh builds one); this environment's sam2 is Meta's SAM 2"
)
NEEDS_SAM2 = (
    "this environment's `sam2` is EdgeTAM's (edgetam-dimos), which builds SAM 2 models with its own, "
    "older code: export SAM 2 variants in an environment with Meta's sam2 (.ci/install-export.sh)"
)


def sam2_code() -> str:
    """Which code the importable ``sam2`` package is: ``"edgetam"`` or ``"sam2"`` (Meta's).

    EdgeTAM's package is recognised by what only it has: ``sam2.modeling.perceiver`` and the
    ``edgetam.yaml`` config. Raises :class:`ConfigError` when no ``sam2`` is installed.
    """
    spec = importlib.util.find_spec("sam2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("export-sam2 needs the export extra (sam2 is missing): see .ci/install-export.sh, "
                          "or .ci/install-edgetam.sh for EdgeTAM")
    root = Path(next(iter(spec.submodule_search_locations)))
    has_perceiver = (root / "modeling" / "perceiver.py").is_file()
    has_config = (root / "configs" / "edgetam.yaml").is_file()
    return "edgetam" if has_perceiver and has_config else "sam2"


def check_code(variant: str) -> None:
    """Refuse, in one line, a variant the installed ``sam2`` code cannot build correctly."""
    code = sam2_code()
    if variant == "edgetam" and code != "edgetam":
        raise ConfigError(NEEDS_EDGETAM)
    if variant != "edgetam" and code == "edgetam":
        raise ConfigError(NEEDS_SAM2)


def _hydra_overrides() -> list[str]:
    # the self-attention's RoPE table is built for 32x32 in edgetam.yaml and rebuilt lazily on the first
    # forward at 64x64 (image size 1024); build it at the right size instead (same values)
    side = EDGETAM_IMAGE_SIZE // 16
    return [f"++model.memory_attention.layer.self_attention.feat_sizes=[{side},{side}]"]


def build_edgetam(
    image_size: int, checkpoint: Path | None, random_seed: int | None
) -> tuple[torch.nn.Module, str]:
    """EdgeTAM's ``SAM2VideoPredictor`` (CPU, eval) from ``edgetam.yaml``, from a checkpoint or with
    seeded random weights; returns it and its config name."""
    import torch
    from sam2.build_sam import build_sam2_video_predictor as build_predictor

    def build_sam2_video_predictor(*args: Any, **kwargs: Any) -> Any:
        # EdgeTAM's build_sam prints four progress lines to stdout; the CLI reports on stderr itself
        with contextlib.redirect_stdout(io.StringIO()):
            return build_predictor(*args, **kwargs)

    if image_size != EDGETAM_IMAGE_SIZE:
        raise ConfigError(
            f"EdgeTAM exports at image size {EDGETAM_IMAGE_SIZE} only (its training size: the memory "
            f"attention's RoPE grids and the perceiver's windows are built for 64x64 features), got {image_size}"
        )
    if checkpoint is not None:
        if not any(k.startswith("spatial_perceiver.") for k in load_checkpoint(checkpoint, "an EdgeTAM")):
            raise ModelError(f"{checkpoint} is not an EdgeTAM checkpoint: it has no spatial perceiver "
                             "(a SAM 2 checkpoint? export it with --variant tiny/small/base_plus/large)")
        try:
            model = build_sam2_video_predictor(EDGETAM_CONFIG, str(checkpoint), device="cpu",
                                               hydra_overrides_extra=_hydra_overrides())
        except RuntimeError as exc:
            raise ModelError(f"{checkpoint} does not match the EdgeTAM architecture: {exc}") from exc
    else:
        torch.manual_seed(int(random_seed))  # type: ignore[arg-type]
        model = build_sam2_video_predictor(EDGETAM_CONFIG, None, device="cpu",
                                           hydra_overrides_extra=_hydra_overrides())
    return model, EDGETAM_CONFIG


def keep_input(object_score_logits: torch.Tensor) -> torch.Tensor:
    """``0 * object_score_logits`` shaped to add to ``(B, C, H, W)``: a model without the no-object
    spatial embedding (EdgeTAM, SAM 2.0) does not use the object score, and the exporter would drop
    the unused input, while the tracker feeds every memory encoder the same four inputs. The score
    is a finite logit, so the sum is exact."""
    return (0.0 * object_score_logits).reshape(-1, 1, 1, 1)


def where_embed_points(self: Any, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
    """EdgeTAM's ``PromptEncoder._embed_points`` with ``torch.where`` instead of in-place masked
    assignment (``x[labels == -1] = 0``, ``x[labels == 0] += w``, ...), which the ONNX exporter turns
    into a graph that fails to broadcast at run time. The same arithmetic: Meta's later SAM 2 code
    made exactly this change."""
    import torch

    points = points + 0.5  # Shift to center of pixel
    if pad:
        padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
        padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
        points = torch.cat([points, padding_point], dim=1)
        labels = torch.cat([labels, padding_label], dim=1)
    emb = self.pe_layer.forward_with_coords(points, self.input_image_size)
    emb = torch.where((labels == -1).unsqueeze(-1), torch.zeros_like(emb) + self.not_a_point_embed.weight, emb)
    for label in range(4):
        emb = torch.where((labels == label).unsqueeze(-1), emb + self.point_embeddings[label].weight, emb)
    return emb


@contextlib.contextmanager
def export_patches() -> Iterator[None]:
    """During an EdgeTAM export: :func:`where_embed_points` in place of the in-place form."""
    from sam2.modeling.sam.prompt_encoder import PromptEncoder

    original = PromptEncoder._embed_points
    PromptEncoder._embed_points = where_embed_points  # type: ignore[method-assign]
    try:
        yield
    finally:
        PromptEncoder._embed_points = original  # type: ignore[method-assign]


def is_edgetam(model: Any) -> bool:
    return getattr(model, "spatial_perceiver", None) is not None


def memory_tokens(model: Any) -> int:
    """Tokens per memory frame: the perceiver's latents (EdgeTAM: 256 + 256), else the feature map's."""
    if is_edgetam(model):
        p = model.spatial_perceiver
        return max(int(p.num_latents), 0) + max(int(p.num_latents_2d), 0)
    side = model.image_size // model.backbone_stride
    return side * side


def perceiver_pos_enc(model: Any) -> torch.Tensor:
    """The perceiver's output position encoding, ``(1, mem_dim, T)``; checked to be input-independent."""
    import torch

    side = model.image_size // model.backbone_stride
    gen = torch.Generator().manual_seed(0)
    outs = []
    with torch.no_grad():
        for _ in range(2):
            feats = torch.randn(1, model.mem_dim, side, side, generator=gen)
            pos = model.memory_encoder.position_encoding(feats)
            _, out_pos = model.spatial_perceiver(feats, pos)
            outs.append(out_pos)
    if not torch.equal(outs[0], outs[1]):
        raise ModelError("the spatial perceiver's position encoding depends on the memory; "
                         "it cannot be a constant of the export")
    n_1d = max(int(model.spatial_perceiver.num_latents), 0)
    if n_1d and bool(outs[0][:, :n_1d].abs().max() > 0):
        raise ModelError("the spatial perceiver's 1-D latents have a non-zero position encoding")
    return outs[0].permute(0, 2, 1).contiguous()


def code_version() -> str | None:
    """The installed ``edgetam-dimos`` version (None when not installed from that distribution)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(EDGETAM_PACKAGE)
    except PackageNotFoundError:
        return None
