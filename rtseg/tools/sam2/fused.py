"""Export-time rewrites of SAM 2's attention that make the ONNX graphs cheaper to run.

Inside :func:`fused_attention` (export only; measured effects are per graph, tiny at 512, 2 CPU
threads, in ``benchmarks/sam2_speed.py``'s notes):

* memory attention, cross-attention (one head, 64-dim memory projected to 256): the value
  projection is applied *after* attending, ``softmax(QK^T) (M W^T + b) = (softmax(QK^T) M) W^T + b``
  because every softmax row sums to 1. The second matmul over the ~7000 memory tokens then reads
  64-dim values instead of 256-dim ones (memory attention ~1.3x faster);
* memory attention, all layers: RoPE with real cos/sin tables (:mod:`rtseg.tools.sam2.rope`) on
  ``(batch, tokens, channels)`` tensors, and one-head attention as matmul/softmax/matmul without
  the head-splitting transposes;
* EdgeTAM's memory cross-attention (``RoPEAttentionv2``): the same three rewrites (late value
  projection, real RoPE on ``(batch, tokens, channels)``, matmul/softmax/matmul in query blocks);
* Hiera: three q/k/v projections instead of one packed projection and a split (bit-identical
  output), and in the global-attention blocks ONNX Runtime's fused
  ``com.microsoft.MultiHeadAttention`` kernel, which takes ``(batch, tokens, heads * head_dim)``
  directly (image encoder ~1.05x faster);
* Hiera's windowed blocks: q/k/v and output projections on the real tokens only, the window
  padding filled with the projections' biases (what a zero token projects to), instead of
  projecting ~70 % extra padding tokens at 512 (image encoder ~1.08x faster; see
  :func:`fused_hiera_block_forward`).

All are the same arithmetic up to float32 summation order (checked against SAM 2's own modules in
``tests/test_sam2_export.py``). In eager mode the fused op runs as
``scaled_dot_product_attention``, so a traced model and SAM 2 agree before export too.

Only :mod:`rtseg.tools.sam2.export` imports this module; it needs torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F

from rtseg.tools.sam2.rope import (
    axial_rope_tables,
    real_rope,
    rope_v2_class,
    rotate_axial_keys,
    rotate_memory_keys,
    v2_rope_tables,
)

MS_DOMAIN = "com.microsoft"
"""ONNX Runtime's contrib-op domain (the fused MultiHeadAttention)."""


class _FusedMHA(torch.autograd.Function):
    """``(B, Lq, N*Dk), (B, Lk, N*Dk), (B, Lk, N*Dv) -> (B, Lq, N*Dv)``; scale ``1/sqrt(Dk)``."""

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int) -> torch.Tensor:
        b, lq, _ = q.shape
        lk = k.shape[1]
        qh = q.reshape(b, lq, num_heads, -1).transpose(1, 2)
        kh = k.reshape(b, lk, num_heads, -1).transpose(1, 2)
        vh = v.reshape(b, lk, num_heads, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(qh, kh, vh)
        return out.transpose(1, 2).reshape(b, lq, -1)

    @staticmethod
    def symbolic(g: Any, q: Any, k: Any, v: Any, num_heads: int) -> Any:
        out = g.op(f"{MS_DOMAIN}::MultiHeadAttention", q, k, v, num_heads_i=int(num_heads))
        # the exporter cannot infer a contrib op's output; it is query-shaped with the value width
        q_sizes, v_sizes = q.type().varyingSizes(), v.type().varyingSizes()
        out.setType(q.type().with_sizes([q_sizes[0], q_sizes[1], v_sizes[2]]))
        return out


def fused_mha(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Multi-head attention on ``(batch, tokens, channels)`` tensors, exported as one ORT op."""
    return _FusedMHA.apply(q, k, v, num_heads)  # type: ignore[no-any-return]


QUERY_BLOCK = 512
"""Queries per block in :func:`single_head_attention` when there are at least :data:`BLOCKED_MIN_QUERIES`."""

BLOCKED_MIN_QUERIES = 2048
"""From this many queries on (image size 1024: 4096), one-head attention runs in query blocks."""


def single_head_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """One-head attention on ``(batch, tokens, channels)`` as plain matmul/softmax/matmul.

    With one head there are no head transposes to save, and ONNX Runtime's ``MatMul`` + ``Softmax``
    ran the memory attention ~7 % faster here than its fused kernel; the scale goes on the
    (smaller) query rather than on the keys or the score matrix.

    At image size 1024 the memory cross-attention's score matrix is 4096 queries x ~28,700 memory
    tokens (470 MB): the softmax alone took 20 % of the graph, streaming it through memory three
    times. Blocks of 512 queries (59 MB of scores each) are computed one after another instead:
    each row's softmax and weighted sum are the same arithmetic, so the output is bit-identical
    (checked in ONNX Runtime), and one cross-attention layer took 400 instead of 470 ms here.
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    kt = k.transpose(1, 2)
    if q.shape[1] < BLOCKED_MIN_QUERIES:
        return torch.softmax(torch.matmul(q * scale, kt), dim=-1) @ v
    return torch.cat([torch.softmax(torch.matmul(block * scale, kt), dim=-1) @ v
                      for block in q.split(QUERY_BLOCK, dim=1)], dim=1)


def _rotate_heads(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, num_heads: int) -> torch.Tensor:
    """RoPE on ``(..., L, N*D)`` without separating the heads: rotate consecutive pairs of each head by
    per-token ``cos``/``sin`` (L, D/2)."""
    c = x.shape[-1]
    pairs = x.reshape(*x.shape[:-1], num_heads, c // num_heads // 2, 2)
    a, bb = pairs[..., 0], pairs[..., 1]
    cos, sin = cos[:, None, :], sin[:, None, :]
    return torch.stack((a * cos - bb * sin, a * sin + bb * cos), dim=-1).reshape(x.shape)


def _project(self: Any, q: torch.Tensor, k: torch.Tensor,
             v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """q/k/v projections of a SAM 2 attention module; for a one-head attention whose values are
    narrower than the attention, the value projection waits until after attending (``late_v``)."""
    late_v = bool(self.num_heads == 1 and v.shape[-1] < self.v_proj.out_features)
    return self.q_proj(q), self.k_proj(k), v if late_v else self.v_proj(v), late_v


def _attend(self: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, late_v: bool) -> torch.Tensor:
    """Attention (plain matmuls for one head, ORT's fused op for more), the late value projection if
    any, and the output projection."""
    heads = self.num_heads
    out = single_head_attention(q, k, v) if heads == 1 else fused_mha(q, k, v, heads)
    if late_v:
        out = self.v_proj(out)
    return self.out_proj(out)


def fused_rope_forward(
    self: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_k_exclude_rope: int | torch.Tensor = 0,
) -> torch.Tensor:
    """``RoPEAttention.forward`` with real RoPE, the fused attention op and, for a one-head
    cross-attention whose values are narrower than the attention, the value projection moved
    after the attention (see the module docstring)."""
    heads = self.num_heads
    q, k, v, late_v = _project(self, q, k, v)

    n_q = q.shape[-2]
    side = math.isqrt(int(n_q))
    cos, sin = axial_rope_tables(self, side)
    q = _rotate_heads(q, cos, sin, heads)
    k = rotate_axial_keys(k, cos, sin, self.rope_k_repeat, num_k_exclude_rope, partial(_rotate_heads, num_heads=heads))
    return _attend(self, q, k, v, late_v)


def fused_rope_v2_forward(
    self: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_k_exclude_rope: int | torch.Tensor = 0,
    rope_k_repeat: int | torch.Tensor = -1,
) -> torch.Tensor:
    """EdgeTAM's ``RoPEAttentionv2.forward`` rewritten like :func:`fused_rope_forward`: real RoPE
    (:func:`~rtseg.tools.sam2.rope.rotate_memory_keys`), one-head attention as plain matmuls and,
    for narrower values, the value projection after attending."""
    heads = self.num_heads
    q, k, v, late_v = _project(self, q, k, v)
    cos_q, sin_q, cos_k, sin_k = v2_rope_tables(self)
    q = _rotate_heads(q, cos_q, sin_q, heads)
    k = rotate_memory_keys(k, cos_k, sin_k, num_k_exclude_rope, rope_k_repeat, partial(_rotate_heads, num_heads=heads))
    return _attend(self, q, k, v, late_v)


def fused_hiera_attention_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """Hiera ``MultiScaleAttention.forward``, with the fused attention op for global attention.

    Windowed blocks (one batch entry per window, 16-196 tokens each) keep SAM 2's decomposed
    form: measured here, the fused kernel was slower on those many small batches (image encoder
    0.82x), while on the global blocks (1024 tokens at 512) it is faster.
    """
    from sam2.modeling.backbones.hieradet import do_pool

    b, h, w, _ = x.shape
    c = self.dim_out
    weight, bias = self.qkv.weight, self.qkv.bias
    # three projections instead of one packed qkv projection and a split: the same dot products
    # without copying the packed result apart
    q, k, v = (F.linear(x, weight[i * c : (i + 1) * c], bias[i * c : (i + 1) * c]) for i in range(3))
    if self.q_pool:
        q = do_pool(q, self.q_pool)
        h, w = q.shape[1:3]
    if b != 1:
        heads = self.num_heads
        qh, kh, vh = (t.reshape(b, -1, heads, c // heads).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(qh, kh, vh).transpose(1, 2)
    else:
        out = fused_mha(q.reshape(b, h * w, c), k.reshape(b, -1, c), v.reshape(b, -1, c), self.num_heads)
    return self.proj(out.reshape(b, h, w, c))


def _pad_with(x: torch.Tensor, value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad ``(B, H, W, C)`` at the bottom/right to ``height`` x ``width`` with the (C,) ``value``."""
    b, h, w, c = x.shape
    if width > w:
        x = torch.cat([x, value.expand(b, h, width - w, c)], dim=2)
    if height > h:
        x = torch.cat([x, value.expand(b, height - h, width, c)], dim=1)
    return x


def fused_hiera_block_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    """Hiera ``MultiScaleBlock.forward`` without projecting the windows' zero padding.

    SAM 2 pads the normalised tokens with zeros up to a multiple of the window (at 512: 32x32 ->
    42x42 for 14-token windows, 16x16 -> 21x21 for 7), then runs the qkv and output projections on
    the padded windows: ~70 % more tokens than there are in those blocks. A padded token's q/k/v is
    exactly the projection's bias (zero input), and the output projection acts per token, so here
    q/k/v are projected on the real tokens, padded with their biases, attended per window as before
    (padding still takes part in each window's softmax, as in SAM 2), and the padding is cropped
    before the output projection. Bit-identical up to float32 summation order.
    """
    from sam2.modeling.backbones.hieradet import do_pool
    from sam2.modeling.backbones.utils import window_partition, window_unpartition

    ws = self.window_size
    attn = self.attn
    shortcut = x
    x = self.norm1(x)
    if self.dim != self.dim_out:
        shortcut = do_pool(self.proj(x), self.pool)
    if ws == 0:  # global attention: no windows, no padding
        x = shortcut + self.drop_path(attn(x))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    h, w = x.shape[1:3]
    c, heads = attn.dim_out, attn.num_heads
    hp, wp = h + (ws - h % ws) % ws, w + (ws - w % ws) % ws
    weight, bias = attn.qkv.weight, attn.qkv.bias
    parts = []
    for i in range(3):
        wi, bi = weight[i * c : (i + 1) * c], bias[i * c : (i + 1) * c]
        parts.append(window_partition(_pad_with(F.linear(x, wi, bi), bi, hp, wp), ws)[0])
    q, k, v = parts  # (B * windows, ws, ws, C)
    if attn.q_pool:
        q = do_pool(q, attn.q_pool)
    nw, qs = q.shape[0], q.shape[1]
    qh, kh, vh = (t.reshape(nw, -1, heads, c // heads).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(qh, kh, vh).transpose(1, 2).reshape(nw, qs, qs, c)
    if self.q_stride:
        ws = qs
        h, w = shortcut.shape[1:3]
        hp, wp = h + (ws - h % ws) % ws, w + (ws - w % ws) % ws
    out = attn.proj(window_unpartition(out, ws, (hp, wp), (h, w)))
    x = shortcut + self.drop_path(out)
    return x + self.drop_path(self.mlp(self.norm2(x)))


def _fold_1x1(first: torch.nn.Conv2d, second: torch.nn.Conv2d) -> torch.nn.Conv2d:
    """One 1x1 convolution equal to ``second(first(x))`` (both 1x1, no nonlinearity between)."""
    w1 = first.weight.detach().double().flatten(1)
    w2 = second.weight.detach().double().flatten(1)
    b1 = first.bias.detach().double() if first.bias is not None else torch.zeros(w1.shape[0], dtype=torch.float64)
    b2 = second.bias.detach().double() if second.bias is not None else torch.zeros(w2.shape[0], dtype=torch.float64)
    conv = torch.nn.Conv2d(w1.shape[1], w2.shape[0], kernel_size=1)
    assert conv.bias is not None
    with torch.no_grad():
        conv.weight.copy_((w2 @ w1).float()[:, :, None, None])
        conv.bias.copy_((w2 @ b1 + b2).float())
    return conv.requires_grad_(False)  # traced as constants


def can_fold_high_res(model: Any) -> bool:
    """Whether :func:`image_encoder_forward` applies: the decoder's high-resolution projections
    follow plain 1x1 lateral convolutions of FPN levels 0 and 1 (true for every SAM 2 config)."""
    neck = model.image_encoder.neck
    convs = [neck.convs[len(neck.convs) - 1 - i].conv for i in (0, 1)]
    return bool(
        model.use_high_res_features_in_sam
        and not {0, 1} & set(neck.fpn_top_down_levels)
        and all(c.kernel_size == (1, 1) and c.stride == (1, 1) and c.padding == (0, 0) for c in convs)
    )


def image_encoder_forward(model: Any) -> Any:
    """A function ``image -> (vision_features, high_res_feat_0, high_res_feat_1)`` equal to
    ``model.forward_image``'s outputs, with FPN levels 0/1 folded into the mask decoder's
    ``conv_s0``/``conv_s1``.

    ``forward_image`` runs the neck's 1x1 lateral convolution to 256 channels at stride 4 and 8 and
    then the decoder's 1x1 projection down to 32/64 channels; nothing else uses those 256-channel
    maps, so the two convolutions compose into one (weights multiplied in float64). That skips
    ~0.7 GMAC and a 16 MB intermediate per frame at 512. Needs :func:`can_fold_high_res`.
    """
    enc = model.image_encoder
    neck = enc.neck
    n = len(neck.convs) - 1
    folded = {
        0: _fold_1x1(neck.convs[n].conv, model.sam_mask_decoder.conv_s0),
        1: _fold_1x1(neck.convs[n - 1].conv, model.sam_mask_decoder.conv_s1),
    }
    top = len(neck.convs) - 1 - enc.scalp  # the last level kept: vision features

    def forward(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        xs = enc.trunk(image)
        prev = None
        for i in range(n, 1, -1):  # FpnNeck.forward's top-down pass over levels >= 2
            lateral = neck.convs[n - i](xs[i])
            if i in neck.fpn_top_down_levels and prev is not None:
                top_down = F.interpolate(
                    prev.to(dtype=torch.float32),
                    scale_factor=2.0,
                    mode=neck.fpn_interp_model,
                    align_corners=(None if neck.fpn_interp_model == "nearest" else False),
                    antialias=False,
                )
                prev = lateral + top_down
                if neck.fuse_type == "avg":
                    prev = prev / 2
            else:
                prev = lateral
            if i == top:
                vision = prev
        return vision, folded[0](xs[0]), folded[1](xs[1])

    return forward


@contextmanager
def fused_attention() -> Iterator[None]:
    """Patch SAM 2's (and EdgeTAM's) attention modules and Hiera's blocks to the forms above during an export."""
    from sam2.modeling.backbones.hieradet import MultiScaleAttention, MultiScaleBlock
    from sam2.modeling.sam.transformer import RoPEAttention

    with ExitStack() as stack:
        stack.enter_context(real_rope())  # restores RoPEAttention.forward on exit
        original_hiera = MultiScaleAttention.forward
        original_block = MultiScaleBlock.forward
        MultiScaleBlock.forward = fused_hiera_block_forward  # type: ignore[method-assign]
        RoPEAttention.forward = fused_rope_forward  # type: ignore[method-assign]
        MultiScaleAttention.forward = fused_hiera_attention_forward  # type: ignore[method-assign]
        v2 = rope_v2_class()  # EdgeTAM's; restored by real_rope() on exit
        if v2 is not None:
            v2.forward = fused_rope_v2_forward
        try:
            yield
        finally:
            MultiScaleAttention.forward = original_hiera  # type: ignore[method-assign]
            MultiScaleBlock.forward = original_block  # type: ignore[method-assign]
