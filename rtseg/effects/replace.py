"""Background replacement by a colour, an image, or a looped video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from rtseg.effects.composite import blend, cover_resize, light_wrap, parse_colour
from rtseg.errors import SourceError

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".gif"}


class _LoopedVideo:
    """Frames of a video file, restarting at the end, resized to cover the output size."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[av.VideoFrame] | None = None

    def _restart(self) -> None:
        self.close()
        try:
            self._container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise SourceError(f"cannot load background video {self.path}: {exc}") from exc
        if not self._container.streams.video:
            raise SourceError(f"background {self.path} has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._frames = self._container.decode(stream)

    def next(self, width: int, height: int) -> np.ndarray:
        for attempt in range(2):
            if self._frames is None:
                self._restart()
            assert self._frames is not None
            try:
                vf = next(self._frames)
            except StopIteration:
                self._frames = None
                if attempt:
                    break
                continue
            except av.error.FFmpegError as exc:
                raise SourceError(f"background video {self.path} is corrupt: {exc}") from exc
            return cover_resize(vf.to_ndarray(format="rgb24"), width, height)
        raise SourceError(f"background video {self.path} has no frames")

    def close(self) -> None:
        self._frames = None
        if self._container is not None:
            self._container.close()
            self._container = None


class ReplaceEffect:
    """Put the person over ``background``: ``#RRGGBB``, an image file, or a video file (looped).

    ``light_wrap`` (0..1, off by default) lets the new background's light spill over the person's
    edge so they sit in the scene rather than looking pasted on.

    >>> import numpy as np
    >>> fx = ReplaceEffect("#00ff00"); fx.open()
    >>> out = fx.apply(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.float32))
    >>> out[0, 0].tolist()
    [0, 255, 0]
    """

    name = "replace"
    channels = 3

    def __init__(self, background: str, *, light_wrap: float = 0.0) -> None:
        self.background = background
        self.light_wrap = light_wrap
        self._colour: tuple[int, int, int] | None = None
        self._image: np.ndarray | None = None
        self._video: _LoopedVideo | None = None
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def open(self) -> None:
        self._colour = parse_colour(self.background)
        if self._colour is not None:
            return
        if self.background.startswith("#"):
            raise SourceError(f"background colour must be #RRGGBB, got {self.background!r}")
        path = Path(self.background)
        if not path.is_file():
            raise SourceError(f"background not found: {self.background}")
        if path.suffix.lower() in VIDEO_SUFFIXES:
            self._video = _LoopedVideo(path)
            self._video._restart()
            return
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SourceError(f"cannot load background image {path} (not an image or corrupt)")
        self._image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def background_for(self, width: int, height: int) -> np.ndarray:
        """The background frame for an output of this size (static ones are computed once)."""
        if self._video is not None:
            return self._video.next(width, height)
        key = (width, height)
        if key not in self._cache:
            if self._colour is not None:
                self._cache[key] = np.full((height, width, 3), self._colour, np.uint8)
            else:
                assert self._image is not None, "open() first"
                self._cache[key] = cover_resize(self._image, width, height)
        return self._cache[key]

    def apply(self, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        bg = self.background_for(w, h)
        out = blend(image, bg, alpha)
        if self.light_wrap > 0:
            out = light_wrap(out, bg, alpha, strength=self.light_wrap)
        return out

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None
        self._cache.clear()
