"""Compositing primitives: alpha blend in OpenCV (no full-frame float numpy), cover-fit resize."""

from __future__ import annotations

import cv2
import numpy as np

BLEND_TILE = 16
"""Tile side (pixels) of :func:`blend`'s classification into person, background and edge band."""

BAND_MAX_FRACTION = 0.5
"""Above this share of edge-band tiles (a soft or noisy alpha), one blend of the whole frame is cheaper."""


def blend(fg: np.ndarray, bg: np.ndarray, alpha: np.ndarray, *, into_bg: bool = False) -> np.ndarray:
    """``fg * alpha + bg * (1 - alpha)`` for uint8 images and float32 alpha (H, W) in 0..1.

    Only the edge band is blended. The frame is cut into 16x16 tiles and each tile's mean alpha
    (one ``INTER_AREA`` resize, exact for a whole-number factor) says what it is: mean 1 means
    alpha is 1 throughout (the tile is ``fg``, copied), mean 0 means 0 throughout (``bg``, as it
    is), anything else is a band tile. The band tiles are gathered into one strip and blended with
    one ``cv2.blendLinear`` call, then put back; the strips that do not fill a whole tile on the
    right and bottom are blended as they are. For a person in a 720p frame about 4 % of the tiles
    are band (0.75 ms against 1.3 ms for a blend over the person's bounding box). The result is the
    blend of every pixel, as ``cv2.blendLinear`` computes it. The inputs are not modified, except
    ``bg`` with ``into_bg=True`` (a background the caller made for this frame): the result is
    written into it, which saves a frame copy.

    >>> import numpy as np
    >>> fg = np.full((1, 2, 3), 200, np.uint8); bg = np.zeros((1, 2, 3), np.uint8)
    >>> blend(fg, bg, np.array([[1.0, 0.5]], np.float32))[0, :, 0].tolist()
    [200, 100]
    """
    a = alpha.astype(np.float32, copy=False)
    h, w = a.shape
    t = BLEND_TILE
    th, tw = h // t, w // t
    if th == 0 or tw == 0:
        return cv2.blendLinear(fg, bg, a, 1.0 - a)
    hh, ww = th * t, tw * t
    mean = cv2.resize(a[:hh, :ww], (tw, th), interpolation=cv2.INTER_AREA)
    full = mean >= 1.0
    band = (mean > 0.0) & ~full
    n = int(np.count_nonzero(band))
    if n > BAND_MAX_FRACTION * band.size:
        return cv2.blendLinear(fg, bg, a, 1.0 - a)
    out = bg if into_bg else bg.copy()
    c = fg.shape[2] if fg.ndim == 3 else 1
    shape = (th, t, tw, t, c)
    ov = out[:hh, :ww].reshape(shape)
    fv = fg[:hh, :ww].reshape(shape)
    r, k = np.nonzero(full)
    if r.size:
        ov[r, :, k] = fv[r, :, k]
    if n:
        r, k = np.nonzero(band)
        bv = bg[:hh, :ww].reshape(shape)
        ab = np.ascontiguousarray(a[:hh, :ww].reshape(th, t, tw, t)[r, :, k]).reshape(n * t, t)
        mixed = cv2.blendLinear(np.ascontiguousarray(fv[r, :, k]).reshape(n * t, t, c),
                                np.ascontiguousarray(bv[r, :, k]).reshape(n * t, t, c), ab, 1.0 - ab)
        ov[r, :, k] = mixed.reshape(n, t, t, c)
    for ys, xs in ((slice(0, h), slice(ww, w)), (slice(hh, h), slice(0, ww))):
        ra = a[ys, xs]
        if ra.size and ra.any():
            out[ys, xs] = cv2.blendLinear(fg[ys, xs], bg[ys, xs], np.ascontiguousarray(ra),
                                          np.ascontiguousarray(1.0 - ra)).reshape(out[ys, xs].shape)
    return out


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
