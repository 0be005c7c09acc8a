"""A preview window (OpenCV highgui): keys and mouse clicks go to callbacks, an overlay comes from one.

Every highgui call happens in the sink's thread (the window is created on the first frame and
destroyed at the end), because GUI toolkits want one thread per window. The sink knows nothing of
what keys mean: the job's live controls (hotkeys, click-to-track) are wired in by the builder as
``on_key``, ``on_mouse`` and ``decorate``. An RGBA output (cutout) is shown over a checkerboard.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import cv2
import numpy as np

from rtseg.errors import SinkError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.queues import Policy
from rtseg.graph.stage import SinkStage

WINDOW = "rtseg preview"
QUIT_KEY = ord("q")

KeyHandler = Callable[[int], None]
MouseHandler = Callable[[int, int, int, Frame], None]
"""(OpenCV mouse event, x, y, the frame on screen)."""
Decorate = Callable[[np.ndarray], np.ndarray]


def display_problem() -> str | None:
    """Why a window cannot be opened here, or None if it probably can."""
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        platform = os.environ.get("QT_QPA_PLATFORM", "")
        if platform and not platform.startswith(("xcb", "wayland")):
            return None  # offscreen, vnc, eglfs…: Qt renders without a desktop
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            return "no display: DISPLAY and WAYLAND_DISPLAY are unset (a headless machine or an SSH session without -X)"
    return None


def draw_overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """A copy of ``image`` (RGB) with ``lines`` of text on a dark band at the top left."""
    out = image.copy()
    if not lines:
        return out
    scale = max(0.45, image.shape[1] / 2400)
    step = int(28 * scale / 0.6)
    width = max(cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for s in lines) + 16
    band = out[: step * len(lines) + 10, :width]
    band[:] = (band * 0.4).astype(np.uint8)
    for i, text in enumerate(lines):
        cv2.putText(out, text, (8, step * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def over_checkerboard(rgba: np.ndarray, cell: int = 16) -> np.ndarray:
    """An RGBA image shown over a grey checkerboard (how editors show transparency).

    >>> over_checkerboard(np.zeros((2, 2, 4), np.uint8))[0, 0].tolist()
    [204, 204, 204]
    """
    h, w = rgba.shape[:2]
    ys, xs = np.indices((h, w))
    board = np.where(((ys // cell + xs // cell) % 2 == 0)[..., None], 204, 153).astype(np.float32)
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3] * a + board * (1.0 - a)).astype(np.uint8)


class PreviewSink(SinkStage):
    """Show each composite in a window; keys go to ``on_key``, clicks to ``on_mouse``.

    ``decorate`` draws on the image before it is shown (stats overlay, clicked points). Closing the
    window with the mouse sends ``q`` to ``on_key``. Fails at ``open()`` with a
    :class:`~rtseg.errors.SinkError` when there is no display.
    """

    name = "preview"
    live_policy = Policy.DROP_OLDEST

    def __init__(self, *, on_key: KeyHandler | None = None, on_mouse: MouseHandler | None = None,
                 decorate: Decorate | None = None, title: str = WINDOW) -> None:
        self.on_key = on_key
        self.on_mouse = on_mouse
        self.decorate = decorate
        self.title = title
        self._window = False
        self._shown: Frame | None = None

    def open(self, info: StreamInfo) -> None:
        problem = display_problem()
        if problem is not None:
            raise SinkError(f"cannot open the preview window: {problem}; run without --preview "
                            "(use --vcam or --record FILE to see the output)")

    def _ensure_window(self) -> None:
        if self._window:
            return
        try:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error as exc:
            raise SinkError(f"cannot open the preview window: {exc}") from exc
        self._window = True
        if self.on_mouse is not None:
            cv2.setMouseCallback(self.title, self.mouse)

    def mouse(self, event: int, x: int, y: int, flags: int, param: object = None) -> None:
        """OpenCV's mouse callback: a click on the frame on screen."""
        shown = self._shown
        if self.on_mouse is not None and shown is not None:
            self.on_mouse(event, x, y, shown)

    def process(self, frame: Frame) -> None:
        self._ensure_window()
        image = frame.result
        if image.shape[2] == 4:
            image = over_checkerboard(image)
        if self.decorate is not None:
            image = self.decorate(image)
        self._shown = frame
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1)
        if key >= 0 and self.on_key is not None:
            self.on_key(key)
        # Closing the window with the mouse also quits.
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1 and self.on_key is not None:
            self.on_key(QUIT_KEY)

    def finish(self) -> None:
        self.close()

    def close(self) -> None:
        if self._window:
            self._window = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass
