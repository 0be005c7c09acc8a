"""Pixel helpers every stage package shares: alpha conversions and resizes here, the edge refinement of a mask
in :mod:`rtseg.imaging.refine` (no stage logic)."""

from __future__ import annotations

import cv2
import numpy as np


def upsample_alpha(alpha: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize alpha (float32, 0..1) to (height, width) with bilinear interpolation, once.

    >>> upsample_alpha(np.ones((2, 2), np.float32), 4, 3).shape
    (3, 4)
    """
    if alpha.ndim == 3:
        alpha = alpha[..., 0]
    if alpha.shape == (height, width):
        return np.ascontiguousarray(alpha, dtype=np.float32)
    return cv2.resize(alpha.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)


def shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` shrunk to (width, height) for a blur: bilinear to twice the size, then 2x2 averages.

    Bilinear sampling at a 2·k-fold reduction reads 4 of every (2·k)² pixels, so this costs a fifth
    of one ``INTER_AREA`` pass over the whole frame (0.14 against 0.71 ms for 720p to 160x90 here)
    and, after the blur that follows, differs from it by less than one level (53 dB PSNR on the
    juggle clip). Small reductions (< 4x) use ``INTER_AREA`` alone.

    >>> shrink(np.zeros((720, 1280, 3), np.uint8), 160, 90).shape
    (90, 160, 3)
    """
    h, w = image.shape[:2]
    if w < 4 * width or h < 4 * height:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    half = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(half, (width, height), interpolation=cv2.INTER_AREA)


def alpha_to_u8(alpha: np.ndarray) -> np.ndarray:
    """float alpha 0..1 → uint8 0..255, rounded.

    >>> alpha_to_u8(np.array([[0.0, 0.5, 1.0]], np.float32)).tolist()
    [[0, 128, 255]]
    """
    return cv2.convertScaleAbs(alpha, alpha=255.0, beta=0.5) if alpha.dtype != np.uint8 else alpha


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` at (width, height): area averaging to shrink, bilinear to grow."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def pad_to_even(image: np.ndarray) -> np.ndarray:
    """``image`` with its last row and/or column repeated so both sides are even (4:2:0 video needs it).

    >>> pad_to_even(np.zeros((3, 5, 3), np.uint8)).shape, pad_to_even(np.zeros((2, 4, 3), np.uint8)).shape
    ((4, 6, 3), (2, 4, 3))
    """
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    return cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size :func:`pad_to_even` gives.

    >>> even_size(641, 361)
    (642, 362)
    """
    return width + width % 2, height + height % 2
