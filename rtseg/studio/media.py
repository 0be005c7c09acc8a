"""Frames of a video or image folder by index, decoded when asked (never all held in memory).

Frames come from the same sources the pipeline reads (:func:`rtseg.sources.open_source`), so a frame
the studio shows and segments is the frame ``rtseg track`` sees. Reading forward continues the
decoder; reading backward re-opens the source and decodes forward again; the last
``cache_frames`` frames stay in an LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from rtseg.errors import ConfigError, SourceError
from rtseg.frame import StreamInfo
from rtseg.graph.stage import SourceStage
from rtseg.sources import open_source


class FrameStore:
    """Random access to one input's frames (RGB uint8); thread-safe."""

    def __init__(self, path: str, cache_frames: int = 48) -> None:
        self.path = path
        self.cache_frames = cache_frames
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._source: SourceStage | None = None
        self._next = 0
        self.info = self._open()
        self.num_frames = self.info.frames or self._count()
        if self.num_frames < 1:
            raise SourceError(f"no frames in {path}")

    def _open(self) -> StreamInfo:
        if self._source is not None:
            self._source.close()
        self._source = open_source(self.path)
        try:
            info = self._source.open()
        except BaseException:
            self._source.close()
            self._source = None
            raise
        self._next = 0
        return info

    def _count(self) -> int:
        """Frames of a video whose header does not say: decode once to the end (then start over)."""
        n = 0
        assert self._source is not None
        while self._source.read() is not None:
            n += 1
        self._open()
        return n

    @property
    def width(self) -> int:
        return self.info.width

    @property
    def height(self) -> int:
        return self.info.height

    def __len__(self) -> int:
        return self.num_frames

    def get(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_frames:
            raise ConfigError(f"frame {index} is outside the video (frames 0..{self.num_frames - 1})")
        with self._lock:
            cached = self._cache.get(index)
            if cached is not None:
                self._cache.move_to_end(index)
                return cached
            if index < self._next or self._source is None:
                self._open()
            assert self._source is not None
            while True:
                frame = self._source.read()
                if frame is None:
                    raise SourceError(f"{self.path} ended at frame {self._next}, before frame {index}")
                self._next += 1
                image = frame.image
                if self._next - 1 == index or self._next - 1 >= index - 2:
                    self._remember(self._next - 1, image)
                if self._next - 1 == index:
                    return image

    def _remember(self, index: int, image: np.ndarray) -> None:
        self._cache[index] = image
        self._cache.move_to_end(index)
        while len(self._cache) > self.cache_frames:
            self._cache.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            if self._source is not None:
                self._source.close()
                self._source = None
            self._cache.clear()
