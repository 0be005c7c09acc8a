"""Mask quality metrics on ground truth: region IoU, DAVIS boundary F, temporal flicker, and edge leak.

Boundary F follows the DAVIS benchmark (Perazzi et al. 2016; ``davis2017-evaluation``'s
``f_boundary``): boundaries are one-pixel maps (``seg2bmap``), each side is matched to the other
within ``ceil(0.008 · diagonal)`` pixels, and F is the harmonic mean of precision and recall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np


def region_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Jaccard index (intersection over union) of two masks of the same shape; a nonzero pixel is
    inside. Two empty masks agree perfectly: 1.0. The one IoU of rtseg and its tests.

    >>> import numpy as np
    >>> region_iou(np.array([[1, 1, 0]], bool), np.array([[1, 0, 0]], bool))
    0.5
    >>> region_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool))
    1.0
    """
    union = np.count_nonzero(np.logical_or(pred, gt))
    return float(np.count_nonzero(np.logical_and(pred, gt)) / union) if union else 1.0


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a boolean mask, as in the DAVIS toolkit (same-size case)."""
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """DAVIS boundary F-measure of boolean masks ``pred`` against ``gt``."""
    h, w = gt.shape
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(h, w))
    fg_b = seg2bmap(pred)
    gt_b = seg2bmap(gt)
    k = _disk(int(bound_pix))
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), k) > 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), k) > 0
    n_fg, n_gt = int(fg_b.sum()), int(gt_b.sum())
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    precision = np.count_nonzero(fg_b & gt_dil) / n_fg
    recall = np.count_nonzero(gt_b & fg_dil) / n_gt
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def stable_region(gt_prev: np.ndarray, gt_cur: np.ndarray, margin: int = 5) -> np.ndarray:
    """Pixels whose label is the same in both frames and farther than ``margin`` px from either boundary."""
    same = gt_prev == gt_cur
    near = np.zeros_like(same)
    k = _disk(margin)
    for g in (gt_prev, gt_cur):
        near |= cv2.dilate(seg2bmap(g).astype(np.uint8), k) > 0
    return same & ~near


EDGE_BAND = 0.014
"""Width of the edge bands of :func:`edge_leak`, as a fraction of the frame diagonal (14 px at 854x480)."""


def edge_bands(gt: np.ndarray, band: float = EDGE_BAND) -> tuple[np.ndarray, np.ndarray]:
    """(outside, inside): ground-truth background pixels within ``band`` x diagonal of the object, and
    object pixels within that distance of the background (Euclidean distance transforms)."""
    h, w = gt.shape
    width = band * math.hypot(h, w)
    fg = gt.astype(np.uint8)
    to_fg = cv2.distanceTransform(1 - fg, cv2.DIST_L2, 5)  # background pixels: distance to the object
    to_bg = cv2.distanceTransform(fg, cv2.DIST_L2, 5)  # object pixels: distance to the background
    return (fg == 0) & (to_fg <= width), (fg == 1) & (to_bg <= width)


def edge_leak(alpha: np.ndarray, gt: np.ndarray, band: float = EDGE_BAND) -> tuple[float | None, float | None]:
    """(outside leak, inside loss) of a soft ``alpha`` against boolean ``gt``.

    Outside leak: mean alpha over the background band just outside the object (background the
    composite keeps sharp). Inside loss: mean 1 - alpha over the object band just inside its edge
    (the object blurred away). None for a band with no pixels.

    >>> import numpy as np
    >>> gt = np.zeros((400, 400), bool); gt[100:300, 100:300] = True   # bands 7.9 px wide
    >>> edge_leak(gt.astype(np.float32), gt)
    (0.0, 0.0)
    >>> wide = np.zeros((400, 400), np.float32); wide[96:304, 96:304] = 1   # 4 px too wide
    >>> leak, loss = edge_leak(wide, gt); round(leak, 2), loss
    (0.57, 0.0)
    """
    outside, inside = edge_bands(gt, band)
    leak = float(alpha[outside].mean()) if outside.any() else None
    loss = float(1.0 - alpha[inside].mean()) if inside.any() else None
    return leak, loss


@dataclass
class SequenceScore:
    """Accumulates per-frame IoU, boundary F and flicker over one sequence."""

    ious: list[float] = field(default_factory=list)
    fs: list[float] = field(default_factory=list)
    flickers: list[float] = field(default_factory=list)
    leaks: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    _prev_alpha: np.ndarray | None = None
    _prev_gt: np.ndarray | None = None

    def add(self, alpha: np.ndarray, gt: np.ndarray) -> None:
        """``alpha`` float 0..1 (H, W); ``gt`` boolean (H, W)."""
        pred = alpha > 0.5
        self.ious.append(region_iou(pred, gt))
        self.fs.append(boundary_f(pred, gt))
        leak, loss = edge_leak(alpha, gt)
        if leak is not None:
            self.leaks.append(leak)
        if loss is not None:
            self.losses.append(loss)
        if self._prev_alpha is not None and self._prev_gt is not None:
            region = stable_region(self._prev_gt, gt)
            if region.any():
                self.flickers.append(float(np.abs(alpha - self._prev_alpha)[region].mean()))
        self._prev_alpha, self._prev_gt = alpha, gt

    def summary(self) -> dict[str, float]:
        return {"iou": float(np.mean(self.ious)) if self.ious else 0.0,
                "boundary_f": float(np.mean(self.fs)) if self.fs else 0.0,
                "flicker": float(np.mean(self.flickers)) if self.flickers else 0.0,
                "outside_leak": float(np.mean(self.leaks)) if self.leaks else 0.0,
                "inside_loss": float(np.mean(self.losses)) if self.losses else 0.0,
                "frames": len(self.ious)}
