"""The export-time attention rewrites (:mod:`rtseg.tools.sam2.fused`) against SAM 2's own modules.

Each rewrite must be the same arithmetic as the module it replaces (only float32 summation order may
differ), checked in eager PyTorch on the model's real submodules with random inputs, and the
exported graphs must really contain the fused op (else the speed-up silently disappears).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")
onnx = pytest.importorskip("onnx")

from rtseg.tools.sam2.export import build_model  # noqa: E402
from rtseg.tools.sam2.fused import fused_hiera_attention_forward, fused_rope_forward  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _, _ = build_model("tiny", 512, None, random_seed=1)
    return model


def test_fused_memory_attention_matches_rope_attention(tiny_model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    layer = tiny_model.memory_attention.layers[0]
    n_q, n_ptr = 32 * 32, 16
    q = torch.randn(1, n_q, 256, generator=gen)
    mem = torch.randn(1, 2 * n_q + n_ptr, 64, generator=gen)
    with torch.no_grad():
        for attn, k, v, kwargs in (
            (layer.self_attn, q, q, {}),
            (layer.cross_attn_image, mem, mem, {"num_k_exclude_rope": n_ptr}),
        ):
            ref = attn(q, k.clone(), v, **kwargs)
            ours = fused_rope_forward(attn, q, k.clone(), v, **kwargs)
            assert ours.shape == ref.shape
            assert float(ref.abs().max()) > 0.1
            assert float((ours - ref).abs().max()) <= 1e-5


def test_fused_hiera_attention_matches(tiny_model: torch.nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    blocks = tiny_model.image_encoder.trunk.blocks
    global_blocks = [b for b in blocks if b.window_size == 0]
    assert global_blocks, "tiny has global-attention blocks"
    with torch.no_grad():
        # a global block; a q-pooling block on one and on four windows (fused and decomposed paths)
        for block, batch in ((global_blocks[0], 1), (blocks[1], 1), (blocks[1], 4)):
            x = torch.randn(batch, 16, 16, block.attn.dim, generator=gen)
            ref = block.attn(x)
            ours = fused_hiera_attention_forward(block.attn, x)
            assert ours.shape == ref.shape
            assert float((ours - ref).abs().max()) <= 1e-5


@pytest.mark.slow
def test_exported_graphs_use_the_fused_op(sam2_model_dir: Path) -> None:
    counts = {}
    for name in ("image_encoder", "memory_attention"):
        model = onnx.load(str(sam2_model_dir / f"{name}.onnx"), load_external_data=False)
        counts[name] = sum(n.op_type == "MultiHeadAttention" and n.domain == "com.microsoft" for n in model.graph.node)
    # tiny: 3 global-attention blocks in Hiera; the one-head memory attention stays plain ops
    assert counts == {"image_encoder": 3, "memory_attention": 0}


@pytest.mark.slow  # the whole image encoder twice in eager PyTorch
def test_fused_image_encoder_matches_sam2(tiny_model: torch.nn.Module) -> None:
    """The whole image-encoder graph under every rewrite at 512 (where the 14- and 7-token windows
    need padding, 32 -> 42 and 16 -> 21 tokens a side) against ``forward_image``."""
    from rtseg.tools.sam2.fused import can_fold_high_res, fused_attention, image_encoder_forward

    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    assert can_fold_high_res(tiny_model)
    with torch.no_grad():
        fpn = tiny_model.forward_image(x)["backbone_fpn"]
        ref = (fpn[-1], fpn[0], fpn[1])
        with fused_attention():
            ours = image_encoder_forward(tiny_model)(x)
    for a, b in zip(ref, ours, strict=True):
        assert a.shape == b.shape
        assert float((a - b).abs().max()) <= 1e-5


def test_one_head_attention_in_query_blocks_equals_the_whole_matrix() -> None:
    # Image size 1024: 4096 queries are attended in blocks of 512 (the score matrix of all of them
    # against ~28,000 memory tokens does not fit any cache); each row is the same arithmetic.
    import math

    from rtseg.tools.sam2.fused import BLOCKED_MIN_QUERIES, QUERY_BLOCK, single_head_attention

    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 4096, 256, generator=g)
    k = torch.randn(1, 3000, 256, generator=g)
    v = torch.randn(1, 3000, 64, generator=g)
    assert q.shape[1] >= BLOCKED_MIN_QUERIES and q.shape[1] % QUERY_BLOCK == 0
    whole = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(256), dim=-1) @ v
    blocked = single_head_attention(q, k, v)
    assert blocked.shape == whole.shape
    assert float((blocked - whole).abs().max()) < 1e-5
    small = single_head_attention(q[:, :1024], k, v)  # image size 512: one block, as before
    assert float((small - whole[:, :1024]).abs().max()) < 1e-5
