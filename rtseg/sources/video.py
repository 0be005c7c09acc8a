"""Video files and URLs through PyAV (anything FFmpeg can read)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from rtseg.errors import SourceError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.stage import SourceStage

_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
"""cv2.rotate codes for a display rotation in degrees counter-clockwise."""


def _is_url(path: str) -> bool:
    return "://" in path


def probe_error(path: str) -> SourceError | None:
    """Return the error opening ``path`` would raise for a missing local file, or None."""
    if _is_url(path):
        return None
    p = Path(path)
    if not p.exists():
        return SourceError(f"input not found: {path}")
    if p.is_dir():
        return SourceError(f"expected a video file, got a directory: {path}")
    if p.stat().st_size == 0:
        return SourceError(f"input is empty (0 bytes): {path}")
    return None


SINGLE_THREAD_DECODE_MAX_PIXELS = 1920 * 1080
"""Up to this frame size, ``threads = 0`` decodes on one thread. FFmpeg's automatic frame threads
cost more CPU per frame (720p H.264 with the RGB conversion: 3.6 against 2.35 ms here) and the
pipeline already decodes in a thread of its own, beside segmentation, compositing and encoding;
one thread decodes 720p at over 400 fps. Larger frames let FFmpeg choose."""


class FileStream:
    """What a file source knows of its first video stream: the defaults until ``open()`` reads them."""

    width: int = 0
    height: int = 0
    fps: Fraction = Fraction(30)
    time_base: Fraction = Fraction(1, 30)
    declared_frames: int = 0
    """The frame count the container states (0: it does not say)."""
    has_audio: bool = False


class VideoFileSource(FileStream, SourceStage):
    """Decodes the first video stream of a file or URL into RGB frames, keeping pts and time base.

    Decoding runs on one thread up to 1080p (:data:`SINGLE_THREAD_DECODE_MAX_PIXELS`), FFmpeg's
    frame/slice threads above. A file that is not media, has no video
    stream, or is truncated raises :class:`~rtseg.errors.SourceError`.

    >>> src = VideoFileSource("../shared/data/gallery/05_default_juggle.mp4")
    >>> with src:
    ...     src.read().image.shape
    (720, 1280, 3)
    """

    name = "source"

    def __init__(self, path: str | os.PathLike[str], *, threads: int = 0, label: str | None = None) -> None:
        self.path = str(path)
        self.label = label or self.path
        self.threads = threads
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[av.VideoFrame] | None = None
        self._index = 0
        self.bad_packets = 0
        """Packets the decoder refused as invalid data and skipped."""
        self.rotation = 0
        """Degrees counter-clockwise the frames are turned to stand upright (the stream's display matrix)."""
        self._first: av.VideoFrame | None = None

    def open(self) -> StreamInfo:
        err = probe_error(self.path)
        if err is not None:
            raise err
        try:
            container = av.open(self.path, mode="r", timeout=10.0 if _is_url(self.path) else None)
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise SourceError(f"not a readable video: {self.path} ({exc})") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"no video stream in {self.path}")
        stream = container.streams.video[0]
        self._container = container
        self.width = stream.codec_context.width
        self.height = stream.codec_context.height
        stream.thread_type = "AUTO"
        threads = self.threads or (1 if 0 < self.width * self.height <= SINGLE_THREAD_DECODE_MAX_PIXELS else 0)
        if threads:
            stream.codec_context.thread_count = threads
        if not self.width or not self.height:
            self.close()
            raise SourceError(f"video stream has no frame size (corrupt header?): {self.path}")
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        self.fps = Fraction(rate)
        self.time_base = Fraction(stream.time_base) if stream.time_base else 1 / self.fps
        self.declared_frames = int(stream.frames or 0)
        self.has_audio = bool(container.streams.audio)
        self._frames = self._decode(container, stream)
        # The first frame carries the display rotation (how phones record portrait video): peek at it
        # so the stream info already has the upright size.
        try:
            self._first = next(self._frames)
        except StopIteration:
            self._first = None
        except av.error.FFmpegError as exc:
            self.close()
            raise SourceError(f"corrupt or truncated video {self.path} at frame 0: {exc}") from exc
        if self._first is None:
            self.close()
            raise SourceError(f"no video frames in {self.path}" + (
                f" (it declares {self.declared_frames}: truncated?)" if self.declared_frames else ""))
        self.rotation = round(float(self._first.rotation or 0) / 90) % 4 * 90
        if self.rotation in (90, 270):
            self.width, self.height = self.height, self.width
        return self.info

    @property
    def info(self) -> StreamInfo:
        return StreamInfo(self.width, self.height, self.fps, self.time_base, self.declared_frames,
                          audio=self.path if self.has_audio else None, label=self.label, rotation=self.rotation)

    def read(self) -> Frame | None:
        if self._frames is None:
            raise SourceError("VideoFileSource.read() before open()")
        try:
            if self._first is not None:
                vf, self._first = self._first, None
            else:
                vf = next(self._frames)
        except StopIteration:
            self._check_complete()
            return None
        except av.error.FFmpegError as exc:
            raise SourceError(f"corrupt or truncated video {self.path} at frame {self._index}: {exc}") from exc
        image: np.ndarray = vf.to_ndarray(format="rgb24")
        if self.rotation:
            image = cv2.rotate(image, _ROTATE[self.rotation])
        pts = vf.pts if vf.pts is not None else self._index
        frame = Frame(image, index=self._index, pts=pts, time_base=self.time_base)
        self._index += 1
        return frame

    def _decode(self, container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
        """Frames of ``stream``, packet by packet. A packet the decoder refuses as invalid data (the cut
        end of a truncated file, a damaged block) is skipped, as FFmpeg's own tools do, and counted in
        :attr:`bad_packets`; a truncated file then ends early and :meth:`_check_complete` says how
        many frames it lacks. One decoder thread reports such a packet at once, frame threads only
        drop it, so this keeps the behaviour the same whatever the thread count."""
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                self.bad_packets += 1
                continue
            yield from frames  # type: ignore[misc]

    def _check_complete(self) -> None:
        # MP4/MOV sample tables state the frame count exactly; a shortfall means the data ran out.
        if self.declared_frames and self._index < self.declared_frames:
            raise SourceError(
                f"truncated video {self.path}: decoded {self._index} of {self.declared_frames} frames"
            )

    def close(self) -> None:
        self._frames = None
        self._first = None
        if self._container is not None:
            container, self._container = self._container, None
            container.close()
