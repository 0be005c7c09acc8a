"""Compositing primitives: alpha blend in OpenCV (no full-frame float numpy), cover-fit resize."""

from __future__ import annotations

import cv2
import numpy as np


def blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``fg * alpha + bg * (1 - alpha)`` for uint8 images and float32 alpha (H, W) in 0..1.

    One ``cv2.blendLinear`` call (≈3 ms at 720p here, against ≈10 ms for the float numpy formula),
    and only over the bounding box of ``alpha > 0``: outside it the result is ``bg`` exactly, so
    the rest is a copy. A person filling a fifth of a 720p frame costs ≈1 ms instead of 3. The
    inputs are never modified.

    >>> import numpy as np
    >>> fg = np.full((1, 2, 3), 200, np.uint8); bg = np.zeros((1, 2, 3), np.uint8)
    >>> blend(fg, bg, np.array([[1.0, 0.5]], np.float32))[0, :, 0].tolist()
    [200, 100]
    """
    a = alpha.astype(np.float32, copy=False)
    x, y, w, h = cv2.boundingRect(cv2.compare(a, 0.0, cv2.CMP_GT))  # type: ignore[call-overload]
    if w * h >= ROI_MAX_FRACTION * a.size:
        return cv2.blendLinear(fg, bg, a, 1.0 - a)
    out = bg.copy()
    if w and h:
        ra = a[y:y + h, x:x + w]
        out[y:y + h, x:x + w] = cv2.blendLinear(fg[y:y + h, x:x + w], bg[y:y + h, x:x + w], ra, 1.0 - ra)
    return out


ROI_MAX_FRACTION = 0.6
"""Above this share of the frame, the bounding-box path saves less than its copy costs."""


def cover_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` to fill width x height, cropping the overflow (like CSS ``object-fit: cover``)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    nw, nh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])


def parse_colour(text: str) -> tuple[int, int, int] | None:
    """``#RRGGBB`` (or ``#RGB``) to an RGB tuple; None if ``text`` is not a colour.

    >>> parse_colour("#00ff80"), parse_colour("beach.jpg")
    ((0, 255, 128), None)
    """
    s = text.strip()
    if not s.startswith("#"):
        return None
    s = s[1:]
    if len(s) == 3:
        s = "".join(c * 2 for c in s)
    if len(s) != 6:
        return None
    try:
        v = int(s, 16)
    except ValueError:
        return None
    return (v >> 16) & 255, (v >> 8) & 255, v & 255


def light_wrap(composite: np.ndarray, background: np.ndarray, alpha: np.ndarray, *, width: float = 6.0,
               strength: float = 0.35) -> np.ndarray:
    """Let the background's light spill over the foreground edge (compositors' "light wrap").

    Inside the person, within about ``width`` pixels of the edge, the blurred background is blended
    in with weight ``strength · (blurred background-ness)``.
    """
    inv_blur = cv2.GaussianBlur(1.0 - alpha, (0, 0), width)
    wrap = cv2.multiply(inv_blur, alpha) * np.float32(strength)
    bg_blur = cv2.GaussianBlur(background, (0, 0), width)
    return cv2.blendLinear(bg_blur, composite, wrap, 1.0 - wrap)
