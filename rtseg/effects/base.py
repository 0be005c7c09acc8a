"""The Effect protocol, the switchable effect of live runs, and the one composite stage."""

from __future__ import annotations

import time
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

import numpy as np

from rtseg.effects.blur import PRIVACY_STRENGTH, privacy_blur
from rtseg.errors import PipelineError
from rtseg.frame import MASK_READY, MASK_SOURCE_T_IN, Frame, StreamInfo
from rtseg.graph.stage import ProcessStage


class Effect(Protocol):
    """Image + alpha in, output image out (RGB uint8, or RGBA uint8 for cutout)."""

    name: str
    channels: int
    """3 for RGB output, 4 for RGBA (cutout)."""

    def open(self) -> None: ...

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


class SwitchableEffect:
    """One of several effects, switched while running (the live hotkeys): ``select(k)``, ``enabled``.

    ``effects[0]`` is the job's effect (blur, cutout or overlay), ``effects[k]`` for k >= 1 the
    replacement backgrounds. Switching is one attribute write, read once per frame.

    >>> from rtseg.effects.replace import ReplaceEffect
    >>> from rtseg.effects.blur import BlurEffect
    >>> fx = SwitchableEffect([BlurEffect(), ReplaceEffect("#ff0000")]); fx.open(); fx.select(1)
    >>> fx.apply(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.float32))[0, 0].tolist()
    [255, 0, 0]
    """

    name = "switchable"

    def __init__(self, effects: Sequence[Effect], *, index: int = 0, enabled: bool = True) -> None:
        if not effects:
            raise ValueError("SwitchableEffect needs at least one effect")
        self.effects = list(effects)
        self.channels = max(e.channels for e in self.effects)
        self._choice = (index, enabled)
        self._opened: list[Effect] = []

    @property
    def index(self) -> int:
        return self._choice[0]

    @property
    def enabled(self) -> bool:
        return self._choice[1]

    def select(self, index: int, enabled: bool = True) -> None:
        """Show effect ``index`` (out of range: the first), or the plain input when not ``enabled``."""
        self._choice = (index if 0 <= index < len(self.effects) else 0, enabled)

    def open(self) -> None:
        try:
            for fx in self.effects:
                fx.open()
                self._opened.append(fx)
        except BaseException:
            self.close()
            raise

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        index, enabled = self._choice
        return self.effects[index].apply(image, alpha) if enabled else image

    def close(self) -> None:
        while self._opened:
            self._opened.pop().close()


class MissingMask(StrEnum):
    """What the composite does with a frame that has no mask."""

    ERROR = "error"
    """Files: a bug upstream (every frame has a mask by now)."""
    PRIVACY = "privacy"
    """Live: blur the whole frame rather than show the room before the first mask arrives."""


class CompositeStage(ProcessStage):
    """Applies an :class:`Effect` to each frame with its alpha.

    ``invert_alpha`` applies the effect to the object instead of the background (blur an object).
    Live (``missing=privacy``) a frame without a mask is blurred whole rather than shown unprocessed;
    with ``fail_closed_s``, a frame whose newest mask finished more than that long ago is blurred
    whole too (a stalled segmenter never reveals the room).
    """

    name = "composite"

    def __init__(self, effect: Effect, *, invert_alpha: bool = False, missing: MissingMask = MissingMask.ERROR,
                 fail_closed_s: float | None = None, privacy_strength: float = PRIVACY_STRENGTH) -> None:
        self.effect = effect
        self.invert_alpha = invert_alpha
        self.missing = MissingMask(missing)
        self.fail_closed_s = fail_closed_s
        self.privacy_strength = privacy_strength
        self.fail_closed_frames = 0
        self.mask_ages: list[float] = []
        """Live: per frame, how much older the mask's source frame is than the frame (0 when its own)."""
        self._open = False

    def open(self, info: StreamInfo) -> None:
        self.effect.open()
        self._open = True

    def process(self, frame: Frame) -> Frame:
        alpha = frame.alpha
        if alpha is None and self.missing is MissingMask.ERROR:
            raise PipelineError("composite stage got a frame without alpha; is a segment stage missing?")
        stale = False
        if self.missing is MissingMask.PRIVACY and alpha is not None:
            self.mask_ages.append(frame.t_in - frame.stamps.get(MASK_SOURCE_T_IN, frame.t_in))
            stale = (self.fail_closed_s is not None
                     and time.perf_counter() - frame.stamps.get(MASK_READY, 0.0) > self.fail_closed_s)
        if alpha is None or stale:
            self.fail_closed_frames += 1
            frame.output = privacy_blur(frame.image, self.privacy_strength)
            return frame
        if self.invert_alpha:
            alpha = np.float32(1.0) - alpha
        frame.output = self.effect.apply(frame.image, alpha)
        return frame

    def close(self) -> None:
        if self._open:
            self._open = False
            self.effect.close()
