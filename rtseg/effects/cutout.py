"""Cutout (RGBA with the alpha as the A channel) and a debug overlay tint."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rtseg.effects.composite import blend
from rtseg.imaging import alpha_to_u8


@dataclass
class CutoutEffect:
    """RGBA output: the frame's colours with straight (not premultiplied) alpha."""

    name: str = "cutout"
    channels: int = 4

    def open(self) -> None:
        pass

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return cv2.merge([image, alpha_to_u8(np.clip(alpha, 0.0, 1.0))])

    def close(self) -> None:
        pass


@dataclass
class OverlayEffect:
    """Tint the foreground (debug view of the mask): ``image`` blended with ``colour`` by ``opacity·alpha``."""

    colour: tuple[int, int, int] = (0, 255, 0)
    opacity: float = 0.5
    name: str = "overlay"
    channels: int = 3

    def open(self) -> None:
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"overlay opacity must be in 0..1, got {self.opacity}")

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        tint = np.empty_like(image)
        tint[:] = self.colour
        return blend(tint, image, alpha * np.float32(self.opacity))

    def close(self) -> None:
        pass
