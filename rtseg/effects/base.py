"""The Effect protocol, the switchable effect of live runs, and the one composite stage."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

import numpy as np

from rtseg.effects.blur import PRIVACY_STRENGTH, BlurEffect, privacy_blur
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


@dataclass(frozen=True)
class EffectChoice:
    """What a :class:`SwitchableEffect` shows: effect ``index`` (out of range: the first), or the plain input
    when not ``enabled``; ``blur_strength``, when set, is the sigma its blur effects use (else their own)."""

    index: int = 0
    enabled: bool = True
    blur_strength: float | None = None


class SwitchableEffect:
    """One of several effects, switched while running (the live hotkeys).

    ``effects[0]`` is the job's effect (blur, cutout or overlay), ``effects[k]`` for k >= 1 the
    replacement backgrounds. The choice is fixed by :meth:`select`, or read from ``choose`` once per frame
    (the live controls' state, the one owner of what is shown): nothing is copied into the effects.

    >>> from rtseg.effects.replace import ReplaceEffect
    >>> from rtseg.effects.blur import BlurEffect
    >>> fx = SwitchableEffect([BlurEffect(), ReplaceEffect("#ff0000")]); fx.open(); fx.select(1)
    >>> fx.apply(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.float32))[0, 0].tolist()
    [255, 0, 0]
    >>> SwitchableEffect([BlurEffect()], choose=lambda: EffectChoice(3, True, 40.0)).choice()
    EffectChoice(index=0, enabled=True, blur_strength=40.0)
    """

    name = "switchable"

    def __init__(self, effects: Sequence[Effect], *, index: int = 0, enabled: bool = True,
                 choose: Callable[[], EffectChoice] | None = None) -> None:
        if not effects:
            raise ValueError("SwitchableEffect needs at least one effect")
        self.effects = list(effects)
        self.channels = max(e.channels for e in self.effects)
        self._choose = choose or _fixed(EffectChoice(index, enabled))
        self._opened: list[Effect] = []

    def choice(self) -> EffectChoice:
        """The choice in force now (its index within ``effects``)."""
        chosen = self._choose()
        return chosen if 0 <= chosen.index < len(self.effects) else replace(chosen, index=0)

    @property
    def index(self) -> int:
        return self.choice().index

    @property
    def enabled(self) -> bool:
        return self.choice().enabled

    def select(self, index: int, enabled: bool = True) -> None:
        """Show effect ``index`` (out of range: the first), or the plain input when not ``enabled``, from now on."""
        self._choose = _fixed(EffectChoice(index, enabled))

    def open(self) -> None:
        try:
            for fx in self.effects:
                fx.open()
                self._opened.append(fx)
        except BaseException:
            self.close()
            raise

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        chosen = self.choice()
        if not chosen.enabled:
            return image
        effect = self.effects[chosen.index]
        if chosen.blur_strength is not None and isinstance(effect, BlurEffect):
            return effect.apply_at(image, alpha, chosen.blur_strength)
        return effect.apply(image, alpha)

    def close(self) -> None:
        while self._opened:
            self._opened.pop().close()


def _fixed(choice: EffectChoice) -> Callable[[], EffectChoice]:
    return lambda: choice


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
    whole too (a stalled segmenter never reveals the room), with sigma ``privacy_strength`` (or what that
    function gives at the frame: the live blur strength can change while running).
    """

    name = "composite"

    def __init__(self, effect: Effect, *, invert_alpha: bool = False, missing: MissingMask = MissingMask.ERROR,
                 fail_closed_s: float | None = None,
                 privacy_strength: float | Callable[[], float] = PRIVACY_STRENGTH) -> None:
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
            strength = self.privacy_strength
            frame.output = privacy_blur(frame.image, strength() if callable(strength) else strength)
            return frame
        if self.invert_alpha:
            alpha = np.float32(1.0) - alpha
        frame.output = self.effect.apply(frame.image, alpha)
        return frame

    def close(self) -> None:
        if self._open:
            self._open = False
            self.effect.close()
