"""A preview window (OpenCV highgui) with hotkeys and an optional stats overlay.

Every highgui call happens in the sink's thread (the window is created on the first frame and
destroyed at the end), because GUI toolkits want one thread per window. Keys go through the pure
:func:`rtseg.live.hotkeys.handle_key`; see that module for the key map. With SAM 2, mouse clicks go
through the pure :func:`rtseg.live.prompts.handle_mouse` (left include, right exclude, ``c`` clears).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import cv2
import numpy as np

from rtseg.errors import SinkError
from rtseg.frame import Frame
from rtseg.graph.stage import SinkStage
from rtseg.live.hotkeys import HELP_LINE, LiveControls
from rtseg.live.prompts import CLEAR_KEYS, INCLUDE, Click, PromptControls

WINDOW = "rtseg preview"


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


def draw_clicks(image: np.ndarray, clicks: tuple[Click, ...]) -> np.ndarray:
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


class PreviewSink(SinkStage):
    """Show each composite in a window; keys change ``controls`` (effect, blur, background, quit…).

    ``status`` gives the text of the stats overlay (fps, latency, drops) when it is switched on.
    Fails at ``open()`` with a :class:`~rtseg.errors.SinkError` when there is no display.
    """

    name = "preview"

    def __init__(self, controls: LiveControls, *, status: Callable[[], list[str]] | None = None,
                 title: str = WINDOW, prompts: PromptControls | None = None) -> None:
        self.controls = controls
        self.status = status
        self.title = title
        self.prompts = prompts
        """Click-to-track (SAM 2): clicks on the window become prompts on the frame shown."""
        self._window = False
        self._shown: Frame | None = None

    def open(self) -> None:
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
        if self.prompts is not None:
            cv2.setMouseCallback(self.title, self.on_mouse)

    def on_mouse(self, event: int, x: int, y: int, flags: int, param: object = None) -> None:
        """OpenCV's mouse callback: a click becomes a prompt on the frame on screen."""
        shown = self._shown
        if self.prompts is not None and shown is not None:
            self.prompts.mouse(event, x, y, shown.index, shown)

    def process(self, frame: Frame) -> None:
        self._ensure_window()
        state = self.controls.state
        image = frame.result
        if image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
        if self.prompts is not None:
            image = draw_clicks(image, self.prompts.state.clicks)
        if state.show_stats:
            lines = list(self.status() if self.status is not None else [])
            help_line = HELP_LINE + ("  click: track  c clear" if self.prompts is not None else "")
            image = draw_overlay(image, [*lines, help_line])
        self._shown = frame
        cv2.imshow(self.title, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1)
        if key >= 0 and self.prompts is not None and key & 0xFF in CLEAR_KEYS:
            self.prompts.clear()
        elif key >= 0:
            self.controls.press(key)
        # Closing the window with the mouse also quits.
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.controls.press(ord("q"))

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
