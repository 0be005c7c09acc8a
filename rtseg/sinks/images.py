"""Per-frame image outputs: mask PNGs and RGBA/RGB PNG folders.

One naming rule for every per-frame file: an image-folder input keeps each image's name
(``00000.jpg`` → ``00000.png``, so masks line up with DAVIS-style annotations); a video input's
frames are numbered with five digits from 0 (``00000.png``, ``00001.png``, …), as DAVIS and SAM 2 do.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from rtseg.errors import ConfigError, SinkError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.stage import SinkStage
from rtseg.imaging import alpha_to_u8
from rtseg.sinks.atomic import AtomicDir, partial_file, write_error

PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1]


def frame_filename(frame: Frame, suffix: str = ".png") -> str:
    """``00000.png`` for an image named ``00000.jpg``; ``00042.png`` for video frame 42.

    >>> import numpy as np
    >>> image = np.zeros((1, 1, 3), np.uint8)
    >>> frame_filename(Frame(image, 42)), frame_filename(Frame(image, 0, name="a"))
    ('00042.png', 'a.png')
    """
    return f"{frame.name}{suffix}" if frame.name is not None else f"{frame.index:05d}{suffix}"


def davis_palette() -> list[int]:
    """The PASCAL VOC / DAVIS 2017 palette (id 1 red, 2 green, 3 yellow, ...), flat RGB list."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


IMAGE_FILE_SUFFIX = ".png"
"""A per-frame output named ``NAME.png`` is one image (a still-image input), not a folder."""


class _PngFolderSink(SinkStage):
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.single = self.directory.suffix.lower() == IMAGE_FILE_SUFFIX
        """One PNG file for a one-frame input (a photo) instead of a folder."""
        self._atomic = AtomicDir(self.directory)
        self._tmp: Path | None = None
        self._partial: Path | None = None
        self.written = 0

    def open(self, info: StreamInfo) -> None:
        if self.single:
            if info.frames > 1:
                raise ConfigError(self._one_frame_message(info.frames))
            self._partial = partial_file(self.directory)
        else:
            self._tmp = self._atomic.open()

    def _one_frame_message(self, frames: int | str) -> str:
        return (f"{self.directory.name} is one image, but the input has {frames} frames: give a folder "
                f"(a name without .png) for one PNG per frame")

    def _path(self, frame: Frame) -> Path:
        if self.single:
            assert self._partial is not None, "open() first"
            if self.written:
                raise SinkError(self._one_frame_message("more than one"))
            return self._partial
        assert self._tmp is not None, "open() first"
        return self._tmp / frame_filename(frame)

    def _write(self, frame: Frame, image: np.ndarray) -> None:
        path = self._path(frame)
        ok, data = cv2.imencode(".png", image, PNG_FAST)
        if not ok:
            raise SinkError(f"cannot encode frame {frame.index} as PNG")
        try:
            path.write_bytes(data.tobytes())  # Python's write: a full disk is an OSError with its errno
        except OSError as exc:
            raise write_error(path, exc) from exc
        self.written += 1

    def finish(self) -> None:
        if self.single:
            assert self._partial is not None
            if not self.written:
                raise SinkError(f"no frame to write to {self.directory}")
            os.replace(self._partial, self.directory)
            self._partial = None
            return
        self._atomic.commit()
        self._tmp = None

    def close(self) -> None:
        if self._partial is not None:
            with contextlib.suppress(OSError):
                self._partial.unlink()
            self._partial = None
        self._atomic.discard()
        self._tmp = None


class MaskSink(_PngFolderSink):
    """One PNG per frame: the alpha as 8-bit grey (0..255), or, for models that track objects (SAM 2),
    each pixel's object id (0 background) with the DAVIS palette."""

    name = "masks"

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        super().__init__(directory)
        self._palette = davis_palette()

    def process(self, frame: Frame) -> None:
        if frame.objects is not None:
            img = Image.fromarray(frame.objects.id_map(), mode="P")
            img.putpalette(self._palette)
            path = self._path(frame)
            try:
                img.save(path, optimize=False, compress_level=1)
            except OSError as exc:
                raise write_error(path, exc) from exc
            self.written += 1
            return
        if frame.alpha is None:
            raise SinkError("mask sink got a frame without alpha")
        self._write(frame, alpha_to_u8(np.clip(frame.alpha, 0.0, 1.0)))


class PngFolderSink(_PngFolderSink):
    """One PNG per frame of the composite (RGBA for cutout, RGB otherwise)."""

    name = "png"

    def process(self, frame: Frame) -> None:
        image = frame.result
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        self._write(frame, cv2.cvtColor(image, code))
