"""Click-to-track: preview-window mouse events as a pure function ``(state, event) → state``.

The preview sink registers an OpenCV mouse callback and hands each event to
:meth:`PromptControls.mouse`, which applies :func:`handle_mouse`; the SAM 2 live segmenter reads the
resulting :class:`PromptState` in its worker thread and tracks the clicked object from the clicked
frame. Keeping the mapping pure makes it testable without a window.

=====================  ===============================================
mouse / key            action
=====================  ===============================================
left click             include point (on the frame shown when clicked)
right click            exclude point
``c``                  clear every click and stop tracking
=====================  ===============================================
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import cv2

CLEAR_KEYS = frozenset({ord("c"), ord("C")})

INCLUDE = 1
EXCLUDE = 0


@dataclass(frozen=True)
class Click:
    """One click in video pixels, with the index of the frame it was made on."""

    x: float
    y: float
    label: int
    """1 include, 0 exclude (SAM 2's point labels)."""
    frame: int


@dataclass(frozen=True)
class PromptState:
    """The clicks since the last clear.

    ``generation`` counts clears (a new generation means "forget the tracked object"); ``clicks``
    only grows within a generation, so a reader that remembers how many it applied knows which are new.
    """

    clicks: tuple[Click, ...] = ()
    generation: int = 0


def handle_mouse(state: PromptState, event: int, x: int, y: int, frame: int) -> PromptState:
    """The state after an OpenCV mouse ``event`` at (``x``, ``y``) on frame ``frame``.

    Button-down events add a point (left include, right exclude); moves, releases and other buttons
    change nothing.

    >>> s = handle_mouse(PromptState(), cv2.EVENT_LBUTTONDOWN, 120, 80, frame=7)
    >>> s.clicks
    (Click(x=120.0, y=80.0, label=1, frame=7),)
    >>> handle_mouse(s, cv2.EVENT_MOUSEMOVE, 5, 5, frame=8) is s
    True
    >>> [c.label for c in handle_mouse(s, cv2.EVENT_RBUTTONDOWN, 10, 10, frame=9).clicks]
    [1, 0]
    """
    if event == cv2.EVENT_LBUTTONDOWN:
        label = INCLUDE
    elif event == cv2.EVENT_RBUTTONDOWN:
        label = EXCLUDE
    else:
        return state
    return replace(state, clicks=(*state.clicks, Click(float(x), float(y), label, int(frame))))


def clear_prompts(state: PromptState) -> PromptState:
    """Forget every click and the tracked object.

    >>> clear_prompts(PromptState(clicks=(Click(1, 2, 1, 0),), generation=3))
    PromptState(clicks=(), generation=4)
    """
    return PromptState(clicks=(), generation=state.generation + 1)


class PromptControls:
    """The current :class:`PromptState`, written by the preview window and read by the SAM 2 worker.

    ``mouse`` also remembers what the window was showing when each click was made (the live path
    passes the :class:`~rtseg.frame.Frame`), so tracking can start from exactly that frame.
    """

    def __init__(self) -> None:
        self.state = PromptState()
        self._shown: dict[int, Any] = {}
        self._lock = threading.Lock()

    def mouse(self, event: int, x: int, y: int, frame: int, shown: Any = None) -> PromptState:
        """Apply a mouse event made while frame ``frame`` (``shown``) was on screen."""
        with self._lock:
            new = handle_mouse(self.state, event, x, y, frame)
            if new is not self.state and shown is not None:
                self._shown = {frame: shown}  # only the newest click's frame can still start tracking
            self.state = new
            return new

    def clear(self) -> PromptState:
        with self._lock:
            self.state = clear_prompts(self.state)
            self._shown.clear()
            return self.state

    def shown(self, frame: int) -> Any:
        """What was on screen when frame ``frame`` was clicked (if it is the newest click's), or None."""
        with self._lock:
            return self._shown.get(frame)
