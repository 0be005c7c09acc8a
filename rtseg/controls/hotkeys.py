"""Preview-window hotkeys as a pure function ``(state, key) → state``, and the shared live controls.

The preview sink reads a key with ``cv2.waitKey`` and calls :func:`handle_key`; the composite stage
and the source read the resulting :class:`LiveState`. Keeping the mapping pure makes it testable
without a window.

=========  ==============================================
key        action
=========  ==============================================
``e``      effect on / off (space works too)
``+``/``=`` stronger blur
``-``/``_`` weaker blur
``b``      next background: blur → background 1 → … → blur
``s``      stats overlay (fps, latency, drops) on / off
``m``      mirror on / off
``q``/Esc  quit (ends the stream cleanly; recordings are kept)
=========  ==============================================
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from rtseg.effects.base import EffectChoice
from rtseg.effects.blur import DEFAULT_STRENGTH

BLUR_STEP = 1.25
"""Each ``+``/``-`` multiplies/divides the blur sigma by this (perceptually even steps)."""
BLUR_MIN = 2.0
BLUR_MAX = 120.0

HOTKEYS = {
    "e": "effect on/off", " ": "effect on/off", "+": "blur stronger", "=": "blur stronger",
    "-": "blur weaker", "_": "blur weaker", "b": "next background", "s": "stats overlay",
    "m": "mirror", "q": "quit", "\x1b": "quit",
}
HELP_LINE = "keys: e effect  +/- blur  b background  s stats  m mirror  q quit"


@dataclass(frozen=True)
class LiveState:
    """What the user can change while live.

    ``background`` indexes the effect cycle: 0 is blur, ``k >= 1`` is the k-th replacement
    background (of ``backgrounds``, the number configured).
    """

    effect_on: bool = True
    blur_strength: float = DEFAULT_STRENGTH
    background: int = 0
    backgrounds: int = 0
    show_stats: bool = False
    mirror: bool = False
    quit: bool = False

    @property
    def blurring(self) -> bool:
        return self.background == 0

    @property
    def effect_choice(self) -> EffectChoice:
        """What the live composite shows in this state (its :class:`~rtseg.effects.SwitchableEffect` reads it).

        >>> LiveState(blur_strength=40.0, background=1, backgrounds=1).effect_choice
        EffectChoice(index=1, enabled=True, blur_strength=40.0)
        """
        return EffectChoice(self.background, self.effect_on, self.blur_strength)


def handle_key(state: LiveState, key: int) -> LiveState:
    """The state after pressing ``key`` (a ``cv2.waitKey`` code; -1 or unknown keys change nothing).

    >>> s = handle_key(LiveState(blur_strength=16.0), ord("+"))
    >>> s.blur_strength
    20.0
    >>> handle_key(LiveState(backgrounds=2, background=2), ord("b")).background   # wraps to blur
    0
    """
    if key < 0:
        return state
    ch = chr(key & 0xFF)
    if ch in "eE ":
        return replace(state, effect_on=not state.effect_on)
    if ch in "+=":
        return replace(state, blur_strength=min(BLUR_MAX, round(state.blur_strength * BLUR_STEP, 3)))
    if ch in "-_":
        return replace(state, blur_strength=max(BLUR_MIN, round(state.blur_strength / BLUR_STEP, 3)))
    if ch in "bB":
        return replace(state, background=(state.background + 1) % (state.backgrounds + 1), effect_on=True)
    if ch in "sS":
        return replace(state, show_stats=not state.show_stats)
    if ch in "mM":
        return replace(state, mirror=not state.mirror)
    if ch in "qQ\x1b":
        return replace(state, quit=True)
    return state


Listener = Callable[[LiveState], None]


class LiveControls:
    """The current :class:`LiveState`, shared by the preview (writer), source and composite (readers).

    Readers take ``controls.state`` once per frame (one attribute read: consistent, lock-free).
    Listeners run on every change, in the thread that made it (e.g. quit → ``pipeline.request_stop``).
    """

    def __init__(self, state: LiveState | None = None) -> None:
        self.state = state or LiveState()
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def update(self, state: LiveState) -> None:
        with self._lock:
            changed = state != self.state
            self.state = state
        if changed:
            for listener in self._listeners:
                listener(state)

    def effect_choice(self) -> EffectChoice:
        """What the live composite shows now: the current state's choice (read once per frame)."""
        return self.state.effect_choice

    def press(self, key: int) -> LiveState:
        """Apply a key press; returns the new state."""
        with self._lock:
            new = handle_key(self.state, key)
        self.update(new)
        return new
