"""Replay a video file as if it were a camera: frames arrive on the clock at the file's frame rate.

``rtseg webcam --source FILE --realtime`` uses this to exercise the live path without a webcam. The
clock never waits for the pipeline: a frame is released when it is due, and a consumer that is too
slow loses frames in the drop-oldest queue behind the source, exactly as with a camera. If decoding
itself falls behind by more than ``late_tolerance_s``, late frames are skipped (and counted) so the
replay stays on the clock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from fractions import Fraction

import cv2

from rtseg.errors import SourceError
from rtseg.frame import Frame
from rtseg.graph.stage import SourceStage
from rtseg.live.clock import Clock, MonotonicClock
from rtseg.sources.video import VideoFileSource

log = logging.getLogger("rtseg.live")


class RealtimeSource(SourceStage):
    """A video file paced at its native frame rate (``speed`` times faster), optionally looped.

    ``duration_s`` ends the stream after that much media time (a camera never ends by itself);
    ``loop`` restarts the file at its end with pts and index still increasing. ``live`` is True, so
    the pipeline's queues are drop-oldest.

    >>> src = RealtimeSource("../shared/data/webcam/thoughtful-640x360.mp4", duration_s=0.2)  # doctest: +SKIP
    >>> with src:
    ...     [f.index for f in iter(src.read, None)]
    [0, 1, 2, 3, 4, 5]
    """

    name = "source"
    live = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        loop: bool = False,
        speed: float = 1.0,
        duration_s: float | None = None,
        mirror: bool = False,
        late_tolerance_s: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if speed <= 0:
            raise SourceError(f"replay speed must be > 0, got {speed}")
        if duration_s is not None and duration_s <= 0:
            raise SourceError(f"duration must be > 0 seconds, got {duration_s}")
        self.path = str(path)
        self.loop = loop
        self.speed = speed
        self.duration_s = duration_s
        self.mirror = mirror
        self.late_tolerance_s = late_tolerance_s
        self.clock: Clock = clock or MonotonicClock()
        self._inner: VideoFileSource | None = None
        self._stop = threading.Event()
        self._t0: float | None = None
        self._first_ts: float | None = None
        self._offset_s = 0.0
        self._pass_frames = 0
        self._last_ts = 0.0
        self._index = 0
        self.width = 0
        self.height = 0
        self.fps: Fraction = Fraction(30)
        self.time_base: Fraction = Fraction(1, 30)
        self.declared_frames = 0
        self.has_audio = False
        self.late_dropped = 0
        """Frames skipped because decoding fell behind the clock."""
        self.loops = 0

    def open(self) -> None:
        self._inner = VideoFileSource(self.path)
        self._inner.open()
        self.width, self.height = self._inner.width, self._inner.height
        self.fps, self.time_base = self._inner.fps, self._inner.time_base
        self.declared_frames = self._inner.declared_frames
        self._stop.clear()
        self._t0 = self._first_ts = None
        self._offset_s, self._pass_frames, self._index = 0.0, 0, 0

    @property
    def frame_interval_s(self) -> float:
        return float(1 / self.fps) / self.speed

    def request_stop(self) -> None:
        self._stop.set()

    def _restart(self) -> None:
        assert self._inner is not None
        self._inner.close()
        self._offset_s += self._last_ts - (self._first_ts or 0.0) + float(1 / self.fps)
        self._pass_frames = 0
        self.loops += 1
        self._inner = VideoFileSource(self.path)
        self._inner.open()

    def read(self) -> Frame | None:
        if self._inner is None:
            raise SourceError("RealtimeSource.read() before open()")
        tolerance = self.late_tolerance_s if self.late_tolerance_s is not None else self.frame_interval_s
        while not self._stop.is_set():
            frame = self._inner.read()
            if frame is None:
                if not self.loop or self._pass_frames == 0:
                    return None
                self._restart()
                continue
            self._pass_frames += 1
            ts = frame.timestamp if frame.timestamp is not None else self._pass_frames / float(self.fps)
            if self._first_ts is None:
                self._first_ts = ts
            self._last_ts = ts
            media_t = self._offset_s + ts - self._first_ts
            if self.duration_s is not None and media_t >= self.duration_s - 1e-9:
                return None
            if self._t0 is None:
                self._t0 = self.clock.now() - media_t / self.speed
            due = self._t0 + media_t / self.speed
            if self.clock.now() > due + tolerance:
                self.late_dropped += 1
                continue
            if not self.clock.wait_until(due, self._stop):
                return None
            image = cv2.flip(frame.image, 1) if self.mirror else frame.image
            pts = None if frame.pts is None else frame.pts + round(self._offset_s / self.time_base)
            out = Frame(image, index=self._index, pts=pts, time_base=self.time_base)
            out.t_in = time.perf_counter()  # the frame "arrives" now, as from a camera
            self._index += 1
            return out
        return None

    def close(self) -> None:
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.close()
