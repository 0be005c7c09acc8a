"""Rotary position encoding with real cos/sin, for exporting SAM 2's memory attention to ONNX.

SAM 2's ``RoPEAttention`` rotates query/key pairs by multiplying them as complex numbers
(``torch.view_as_complex``), and ONNX has no complex tensors. A complex product
``(a + ib)(cos + i sin)`` is ``(a cos - b sin) + i(a sin + b cos)``: the same arithmetic with two real
tables, so the rewritten attention gives the same numbers (max diff 0.0 in PyTorch; about 2e-6 after
export). The tables are taken from SAM 2's own ``compute_axial_cis`` so no frequency is re-derived.

EdgeTAM's ``RoPEAttentionv2`` (memory cross-attention) is rewritten the same way
(:func:`real_rope_v2_forward`): queries and keys have tables of their own grids, and per memory frame
only the last ``len(table)`` tokens (the perceiver's 2-D latents) are rotated.

Only :mod:`rtseg.tools.sam2.export` imports this module; it needs torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F


def axial_rope_tables(attn: Any, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(cos, sin)`` of shape ``(side * side, dim // 2)`` for a ``side`` x ``side`` grid.

    The values are the real and imaginary parts of the attention's own complex ``freqs_cis``
    table (``attn.compute_cis`` binds the head dimension and theta).
    """
    cis = attn.compute_cis(end_x=side, end_y=side)
    return cis.real.contiguous().float(), cis.imag.contiguous().float()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of ``x`` (..., N, D) by per-token angles ``cos``/``sin`` (N, D/2)."""
    pairs = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return out.flatten(-2)


def real_rope_forward(
    self: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_k_exclude_rope: int | torch.Tensor = 0,
) -> torch.Tensor:
    """Drop-in replacement for ``RoPEAttention.forward`` without complex numbers.

    ``num_k_exclude_rope`` may be a 0-d int64 tensor, so the number of object-pointer tokens at the
    end of the memory (which are not rotated) stays a graph input instead of a traced constant.
    Keys are rotated with the query grid's angles repeated once per memory frame, as SAM 2 does
    with ``rope_k_repeat``; the repetition is a gather by ``token % (h * w)``, which exports with a
    dynamic number of memory frames.
    """
    q = self._separate_heads(self.q_proj(q), self.num_heads)
    k = self._separate_heads(self.k_proj(k), self.num_heads)
    v = self._separate_heads(self.v_proj(v), self.num_heads)

    n_q = q.shape[-2]
    side = math.isqrt(int(n_q))
    cos, sin = axial_rope_tables(self, side)
    q = _rotate(q, cos, sin)

    k = rotate_axial_keys(k, cos, sin, self.rope_k_repeat, num_k_exclude_rope, _rotate)

    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    return self.out_proj(self._recombine_heads(out))


def rotate_axial_keys(
    k: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    rope_k_repeat: bool,
    num_k_exclude_rope: int | torch.Tensor,
    rotate: Any,
) -> torch.Tensor:
    """``RoPEAttention``'s rotation of the keys ``(..., N, C)`` by the query grid's ``cos``/``sin`` (n_q, D/2).

    The last ``num_k_exclude_rope`` keys (object pointers) are not rotated; with ``rope_k_repeat``
    the table repeats once per memory frame, as a gather by ``token % n_q`` (dynamic frame count).
    ``rotate(x, cos, sin)`` rotates ``(..., len(cos), C)``: :func:`_rotate` on separated heads, or the
    fused rewrite's rotation of ``(batch, tokens, channels)``.
    """
    num_rope = k.shape[-2] - num_k_exclude_rope
    k_rope, k_rest = k[..., :num_rope, :], k[..., num_rope:, :]
    if rope_k_repeat:
        idx = torch.arange(k_rope.shape[-2]) % cos.shape[0]
        cos, sin = cos.index_select(0, idx), sin.index_select(0, idx)
    return torch.cat([rotate(k_rope, cos, sin), k_rest], dim=-2)


def v2_rope_tables(attn: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(cos_q, sin_q, cos_k, sin_k)`` of a ``RoPEAttentionv2``: its own ``freqs_cis_q``/``freqs_cis_k``."""
    q, k = attn.freqs_cis_q, attn.freqs_cis_k
    return (q.real.contiguous().float(), q.imag.contiguous().float(),
            k.real.contiguous().float(), k.imag.contiguous().float())


def rotate_memory_keys(
    k: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    num_k_exclude_rope: int | torch.Tensor,
    rope_k_repeat: int | torch.Tensor,
    rotate: Any,
) -> torch.Tensor:
    """EdgeTAM's ``apply_rotary_enc_v2`` on the memory keys ``(..., N, C)`` without complex numbers.

    The first ``N - num_k_exclude_rope`` tokens are ``rope_k_repeat`` memory frames of equal length;
    in each, the last ``len(cos)`` tokens are rotated by the table and the ones before them (the
    perceiver's 1-D latents) are not; the excluded tokens at the end (object pointers) are not
    either. ``rotate(x, cos, sin)`` rotates ``(..., len(cos), C)``. Both counts may be 0-d tensors, so
    the number of memory frames stays dynamic in an exported graph.
    """
    n_k = k.shape[-2]
    num_rope = n_k - num_k_exclude_rope
    k_rope, k_rest = k[..., :num_rope, :], k[..., num_rope:, :]
    lead, c = k.shape[:-2], k.shape[-1]
    n_table = cos.shape[0]
    frames = k_rope.reshape(*lead, rope_k_repeat, -1, c)  # type: ignore[arg-type]  # a 0-d tensor when traced
    plain, rot = frames[..., :-n_table, :], frames[..., -n_table:, :]
    frames = torch.cat([plain, rotate(rot, cos, sin)], dim=-2)
    return torch.cat([frames.reshape(*lead, -1, c), k_rest], dim=-2)


def real_rope_v2_forward(
    self: Any,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    num_k_exclude_rope: int | torch.Tensor = 0,
    rope_k_repeat: int | torch.Tensor = -1,
) -> torch.Tensor:
    """Drop-in replacement for EdgeTAM's ``RoPEAttentionv2.forward`` without complex numbers."""
    q = self._separate_heads(self.q_proj(q), self.num_heads)
    k = self._separate_heads(self.k_proj(k), self.num_heads)
    v = self._separate_heads(self.v_proj(v), self.num_heads)
    cos_q, sin_q, cos_k, sin_k = v2_rope_tables(self)
    q = _rotate(q, cos_q, sin_q)
    k = rotate_memory_keys(k, cos_k, sin_k, num_k_exclude_rope, rope_k_repeat, _rotate)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    return self.out_proj(self._recombine_heads(out))


def rope_v2_class() -> Any:
    """EdgeTAM's ``RoPEAttentionv2`` when the installed ``sam2`` is EdgeTAM's code, else None."""
    from sam2.modeling.sam import transformer

    return getattr(transformer, "RoPEAttentionv2", None)


@contextmanager
def real_rope() -> Iterator[None]:
    """Temporarily make every ``RoPEAttention`` use :func:`real_rope_forward`, and EdgeTAM's
    ``RoPEAttentionv2`` (when present) :func:`real_rope_v2_forward` (restored on exit)."""
    from sam2.modeling.sam.transformer import RoPEAttention

    v2 = rope_v2_class()
    original = RoPEAttention.forward
    original_v2 = v2.forward if v2 is not None else None
    RoPEAttention.forward = real_rope_forward  # type: ignore[method-assign]
    if v2 is not None:
        v2.forward = real_rope_v2_forward
    try:
        yield
    finally:
        RoPEAttention.forward = original  # type: ignore[method-assign]
        if v2 is not None:
            v2.forward = original_v2
