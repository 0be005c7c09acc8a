"""Background blur without halo: the person is masked out of the blur (normalised convolution)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from rtseg.effects.composite import blend
from rtseg.imaging import shrink

LOW_RES_SIGMA = 3.0
"""Blur sigma applied at the reduced resolution; the downscale factor supplies the rest."""
PRIVACY_STRENGTH = 30.0
"""The least blur sigma of a fail-closed frame (:func:`privacy_blur`): the whole frame beyond recognition."""


@functools.lru_cache(maxsize=64)
def block_factor(width: int, height: int, factor: float) -> float:
    """The divisor of both ``width`` and ``height`` nearest to ``factor`` if within 25 %, else ``factor``.

    >>> block_factor(1280, 720, 25 / 3), block_factor(1280, 720, 50 / 3), block_factor(1281, 720, 8.3)
    (8.0, 16.0, 8.3)
    """
    g = math.gcd(width, height)
    best = min((d for d in range(1, g + 1) if g % d == 0), key=lambda d: abs(math.log(d / factor)))
    return float(best) if abs(best / factor - 1.0) <= 0.25 else factor


def background_blur(image: np.ndarray, alpha: np.ndarray, strength: float, *, halo_free: bool = True) -> np.ndarray:
    """A blurred background of ``image`` at full size, with sigma ≈ ``strength`` pixels.

    The blur runs on a copy downscaled by about ``strength / 3`` (a 720p frame at strength 25 is
    blurred at 160x90, shrunk by :func:`~rtseg.imaging.shrink`), which is what makes strong blur
    cheap. The factor is snapped to a whole number that divides the frame size when one is within
    25 % (:func:`block_factor`), which keeps the shrink's ``INTER_AREA`` step on OpenCV's
    block-average path (8 rather than 8.33 at 720p, strength 25); the small-scale sigma absorbs the
    difference. With ``halo_free``
    the foreground is weighted out: ``blur(img·(1-a)) / blur(1-a)``, so the person does not smear
    into the background around their outline (what Google Meet's blur does), instead of a bright/dark halo.
    """
    h, w = image.shape[:2]
    # Weak blurs still work at a reduced size (up to 4x): the bilinear upsampling adds less blur
    # than the requested sigma, and full-resolution float arithmetic would cost more than a strong blur.
    factor = block_factor(w, h, max(1.0, min(4.0, strength / 1.5), strength / LOW_RES_SIGMA))
    sw, sh = max(1, round(w / factor)), max(1, round(h / factor))
    sigma = strength / factor
    small = shrink(image, sw, sh)
    if halo_free:
        weight = 1.0 - shrink(alpha, sw, sh)
        num = cv2.GaussianBlur(small.astype(np.float32) * weight[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        plain = cv2.GaussianBlur(small, (0, 0), sigma).astype(np.float32)
        # Where almost no background is nearby (inside the person) fall back to the plain blur.
        t = np.clip(den * 20.0, 0.0, 1.0)[..., None]
        out = num / np.maximum(den, 1e-3)[..., None] * t + plain * (1.0 - t)
        small_blur = np.clip(out, 0, 255).astype(np.uint8)
    else:
        small_blur = cv2.GaussianBlur(small, (0, 0), sigma)
    return cv2.resize(small_blur, (w, h), interpolation=cv2.INTER_LINEAR)


DEFAULT_STRENGTH = 25.0
"""The background blur sigma in pixels when none is given: :class:`BlurEffect`'s, and so the job key
``effect.strength``'s, the Python API's ``rtseg.blur(strength=...)``'s, the live hotkeys' starting one and
the command line's ``--strength`` / ``--blur``'s."""


@dataclass
class BlurEffect:
    """Keep the person sharp, blur the background.

    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    >>> out = BlurEffect(strength=12).apply(img, np.zeros((90, 160), np.float32))
    >>> out.shape, bool(out.std() < img.std())
    ((90, 160, 3), True)
    """

    strength: float = DEFAULT_STRENGTH
    halo_free: bool = True
    name: str = "blur"
    channels: int = 3

    def open(self) -> None:
        if self.strength < 0:
            raise ValueError(f"blur strength must be >= 0, got {self.strength}")

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return self.apply_at(image, alpha, self.strength)

    def apply_at(self, image: np.ndarray, alpha: np.ndarray, strength: float) -> np.ndarray:
        """:meth:`apply` with sigma ``strength`` instead of the effect's own (the live hotkeys' strength)."""
        if strength <= 0:
            return image
        return blend(image, background_blur(image, alpha, strength, halo_free=self.halo_free), alpha, into_bg=True)

    def close(self) -> None:
        pass


def privacy_strength(strength: float) -> float:
    """The fail-closed blur of a job whose background blur is ``strength``: never weaker than it, nor than
    :data:`PRIVACY_STRENGTH`.

    >>> privacy_strength(25.0), privacy_strength(60.0)
    (30.0, 60.0)
    """
    return max(PRIVACY_STRENGTH, strength)


def privacy_blur(image: np.ndarray, strength: float = PRIVACY_STRENGTH) -> np.ndarray:
    """The whole frame blurred beyond recognition (fail-closed output when no mask is fresh).

    >>> img = np.random.default_rng(0).integers(0, 255, (90, 160, 3), dtype=np.uint8)
    >>> bool(privacy_blur(img).std() < img.std() / 3)
    True
    """
    h, w = image.shape[:2]
    factor = max(1.0, strength / 3.0)
    small = cv2.resize(image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 3.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
