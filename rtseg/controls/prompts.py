"""Click-to-track: preview-window mouse events as a pure function ``(state, event) → state``.

The builder hands the preview sink :meth:`PromptControls.mouse` as its mouse callback; each event
goes through :func:`handle_mouse`, and the SAM 2 segmenter reads the resulting
:class:`~rtseg.segment.prompts.PromptState` (``PromptControls`` is its
:class:`~rtseg.segment.prompts.PromptFeed`) in its worker thread and tracks the clicked object from
the clicked frame. Keeping the mapping pure makes it testable without a window.

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
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from rtseg.segment.prompts import EXCLUDE, INCLUDE, PreviewClick, PromptState

CLEAR_KEYS = frozenset({ord("c"), ord("C")})

def handle_mouse(state: PromptState, event: int, x: int, y: int, frame: int) -> PromptState:
    """The state after an OpenCV mouse ``event`` at (``x``, ``y``) on frame ``frame``.

    Button-down events add a point (left include, right exclude); moves, releases and other buttons
    change nothing.

    >>> s = handle_mouse(PromptState(), cv2.EVENT_LBUTTONDOWN, 120, 80, frame=7)
    >>> s.clicks
    (PreviewClick(x=120.0, y=80.0, label=1, frame=7),)
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
    return replace(state, clicks=(*state.clicks, PreviewClick(float(x), float(y), label, int(frame))))


def clear_prompts(state: PromptState) -> PromptState:
    """Forget every click and the tracked object.

    >>> clear_prompts(PromptState(clicks=(PreviewClick(1, 2, 1, 0),), generation=3))
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


def draw_clicks(image: np.ndarray, clicks: tuple[PreviewClick, ...]) -> np.ndarray:
    """``image`` (RGB) with a green dot per include click and a red one per exclude click."""
    if not clicks:
        return image
    out = image.copy()
    radius = max(4, image.shape[1] // 160)
    for c in clicks:
        colour = (0, 220, 0) if c.label == INCLUDE else (230, 0, 0)
        centre = (round(c.x), round(c.y))
        cv2.circle(out, centre, radius + 2, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(out, centre, radius, colour, -1, cv2.LINE_AA)
    return out


__all__ = ["CLEAR_KEYS", "EXCLUDE", "INCLUDE", "PreviewClick", "PromptControls", "PromptState", "clear_prompts",
           "draw_clicks", "handle_mouse"]
