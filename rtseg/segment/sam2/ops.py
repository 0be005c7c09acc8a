"""Numeric pieces of the SAM 2 family's trackers, exactly as the PyTorch reference computes them.

Preprocessing (SAM 2's JPEG-folder loader), the resampling of ``torch.nn.functional.interpolate``,
bfloat16 rounding of stored memories, the 1-D sine encoding of pointer distances; plus reading a frame
the way the reference does and the IoU the tests and benchmarks report. numpy and Pillow only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rtseg.errors import ConfigError

NO_OBJ_SCORE = -1024.0
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


# --- preprocessing and resampling (exactly as SAM 2's loader / torch.nn.functional) --------------


def _normalising_tables() -> np.ndarray:
    """(3, 256) float32: each channel's uint8 value -> normalised float, as SAM 2 computes it.

    SAM 2 divides by 255 in float64, stores float32, then subtracts the mean and divides by the std
    in float32. Each step depends only on the byte value and the channel, so a lookup table built
    with the same steps gives bit-identical tensors at a fraction of the cost.
    """
    lut = (np.arange(256) / 255.0).astype(np.float32)
    return ((lut[None] - IMAGENET_MEAN.reshape(3, 1)) / IMAGENET_STD.reshape(3, 1)).astype(np.float32)


_NORMALISE = _normalising_tables()


def preprocess_image(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> normalised float32 (1, 3, S, S), as SAM 2's JPEG-folder loader does.

    SAM 2 resizes with PIL's default filter (bicubic) to a square and normalises each byte with
    ImageNet's mean and std (see :func:`_normalising_tables`); the tensors are bit-identical.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ConfigError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    resized = np.asarray(Image.fromarray(rgb).resize((image_size, image_size)))
    out = np.empty((1, 3, image_size, image_size), np.float32)
    for c in range(3):
        np.take(_NORMALISE[c], resized[..., c], out=out[0, c])
    return out


def bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) weights of ``F.interpolate(mode="bilinear", align_corners=False)`` along one axis.

    Source positions and weights are computed in float32 like ATen's CPU kernel, so the two agree
    to a few ulp rather than to float32-vs-float64 rounding.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    src = scale * (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    frac = np.clip(src - i0.astype(np.float32), np.float32(0.0), np.float32(1.0))
    m = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(m, (rows, i0), np.float32(1.0) - frac)
    np.add.at(m, (rows, i1), frac)
    return m


def antialias_bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) weights of ``F.interpolate(mode="bilinear", antialias=True)`` along one axis.

    Follows ATen's ``_compute_indices_min_size_weights_aa``: a triangle filter widened by the
    downscale factor, truncated to the input and normalised per output sample.
    """
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    m = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = scale * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        j = np.arange(xmin, xmax)
        w = np.maximum(0.0, 1.0 - np.abs((j - center + 0.5) * invscale))
        total = w.sum()
        if total > 0:
            m[i, xmin:xmax] = w / total
    return m


def resize2d(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Separable resize of (..., H, W) by row/column weight matrices, float32 out."""
    r = rows.astype(np.float32)
    c = cols.astype(np.float32)
    return np.matmul(np.matmul(r, x.astype(np.float32)), c.T)


def round_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 precision (nearest, ties to even) and back.

    SAM2VideoPredictor stores memory features as bfloat16; the tracker keeps the same rounding so
    its memory matches the reference bit for bit.
    """
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def sine_pe_1d(pos: np.ndarray, dim: int, temperature: float = 10000.0) -> np.ndarray:
    """SAM 2's ``get_1d_sine_pe`` in float32: (N,) positions -> (N, dim)."""
    pe_dim = dim // 2
    dim_t = np.arange(pe_dim, dtype=np.float32)
    dim_t = np.float32(temperature) ** (2 * (dim_t // 2) / np.float32(pe_dim))
    emb = pos.astype(np.float32)[:, None] / dim_t.astype(np.float32)
    return np.concatenate([np.sin(emb), np.cos(emb)], axis=-1).astype(np.float32)


def tensor_nbytes(x: Any) -> int:
    """Bytes of a numpy array or an ONNX Runtime value (float32)."""
    if isinstance(x, np.ndarray):
        return int(x.nbytes)
    return 4 * int(np.prod(x.shape()))


def load_frame(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 the way SAM 2's loader does (PIL, converted to RGB)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
