"""Replay a video file as if it were a camera: frames arrive on the clock at the file's frame rate.

``rtseg webcam --source FILE --realtime`` uses this to exercise the live path without a webcam. Like
a camera, whose driver fills a few buffers by DMA whatever the CPU is doing, a decoder thread keeps
up to ``buffer`` decoded frames ready, and ``read()`` releases each one when it is due. The clock
never waits for the pipeline: a consumer that is too slow loses frames in the drop-oldest queue
behind the source, and a frame released more than ``late_tolerance_s`` after its due time (this
thread was starved) is skipped and counted, so the replay stays on the clock. A frame's ``t_in`` is
its due time, so any lateness in releasing it counts as latency.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time

import cv2

from rtseg.errors import SourceError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.clock import Clock, MonotonicClock
from rtseg.graph.queues import EOS, BoundedQueue, Policy, Stopped
from rtseg.graph.stage import SourceStage, Worker
from rtseg.sources.video import FileStream, VideoFileSource

_Item = tuple[Frame, float] | BaseException


class RealtimeSource(FileStream, SourceStage):
    """A video file paced at its native frame rate (``speed`` times faster), optionally looped.

    ``duration_s`` ends the stream after that much media time (a camera never ends by itself);
    ``loop`` restarts the file at its end with pts and index still increasing. ``live`` is True, so
    the pipeline's queues are drop-oldest.

    >>> from rtseg.graph.clock import SimulatedClock
    >>> src = RealtimeSource("../shared/data/webcam/thoughtful-640x360.mp4", duration_s=0.2, clock=SimulatedClock())
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
        buffer: int = 4,
        late_tolerance_s: float | None = None,
        clock: Clock | None = None,
        label: str | None = None,
    ) -> None:
        if speed <= 0:
            raise SourceError(f"replay speed must be > 0, got {speed}")
        if duration_s is not None and duration_s <= 0:
            raise SourceError(f"duration must be > 0 seconds, got {duration_s}")
        self.path = str(path)
        self.label = label or self.path
        self.loop = loop
        self.speed = speed
        self.duration_s = duration_s
        self.mirror = mirror
        self.buffer = buffer
        self.late_tolerance_s = late_tolerance_s
        self.clock: Clock = clock or MonotonicClock()
        self._inner: VideoFileSource | None = None
        self._queue: BoundedQueue[_Item] = BoundedQueue(buffer, Policy.BLOCK, name="replay-buffer")
        self._stop = threading.Event()
        self._opened = False
        self._t0: float | None = None
        self._index = 0
        self.late_dropped = 0
        """Frames skipped because they could not be released on time."""
        self.loops = 0

    def open(self) -> StreamInfo:
        self._inner = VideoFileSource(self.path, label=self.label)
        info = self._inner.open()
        self.width, self.height = self._inner.width, self._inner.height
        self.fps, self.time_base = self._inner.fps, self._inner.time_base
        self.declared_frames = self._inner.declared_frames
        self._stop.clear()
        self._queue = BoundedQueue(self.buffer, Policy.BLOCK, name="replay-buffer")
        self._t0 = None
        self._index = 0
        self._opened = True
        return dataclasses.replace(info, live=True, frames=0, audio=None)

    @property
    def frame_interval_s(self) -> float:
        return float(1 / self.fps) / self.speed

    def request_stop(self) -> None:
        self._stop.set()

    def workers(self) -> list[Worker]:
        """The decoder, which keeps ``buffer`` frames ready like a camera driver's DMA buffers."""
        return [Worker("decode", self._decode, wake=self.request_stop)]

    def _decode(self, stop: threading.Event) -> None:
        """Decoder thread: (frame, media time) pairs into the buffer, then EOS (or the error)."""
        assert self._inner is not None  # ``stop`` is relayed to ``self._stop`` by ``wake``
        inner, first_ts, offset, last_ts, pass_frames = self._inner, None, 0.0, 0.0, 0
        try:
            while True:
                frame = inner.read()
                if frame is None:
                    if not self.loop or pass_frames == 0:
                        break
                    inner.close()
                    offset += last_ts - (first_ts or 0.0) + float(1 / self.fps)
                    pass_frames, self.loops = 0, self.loops + 1
                    inner = self._inner = VideoFileSource(self.path, label=self.label)
                    inner.open()
                    continue
                pass_frames += 1
                ts = frame.timestamp if frame.timestamp is not None else pass_frames / float(self.fps)
                if first_ts is None:
                    first_ts = ts
                last_ts = ts
                media_t = offset + ts - first_ts
                if self.duration_s is not None and media_t >= self.duration_s - 1e-9:
                    break
                if frame.pts is not None:
                    frame.pts += round(offset / self.time_base)
                self._queue.put((frame, media_t), self._stop)
            self._queue.put(EOS, self._stop)
        except Stopped:
            pass
        except BaseException as exc:  # handed to read(): no silent thread death
            with contextlib.suppress(Stopped):
                self._queue.put(exc, self._stop)

    def read(self) -> Frame | None:
        if not self._opened:
            raise SourceError("RealtimeSource.read() before open()")
        tolerance = self.late_tolerance_s if self.late_tolerance_s is not None else self.frame_interval_s
        real_clock = isinstance(self.clock, MonotonicClock)
        while True:
            try:
                item = self._queue.get(self._stop)
            except Stopped:
                return None
            if item is EOS:
                return None
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, tuple)
            frame, media_t = item
            if self._t0 is None:
                self._t0 = self.clock.now() - media_t / self.speed
            due = self._t0 + media_t / self.speed
            if self.clock.now() > due + tolerance:
                self.late_dropped += 1
                continue
            if not self.clock.wait_until(due, self._stop):
                return None
            image = cv2.flip(frame.image, 1) if self.mirror else frame.image
            out = Frame(image, index=self._index, pts=frame.pts, time_base=self.time_base)
            out.t_in = due if real_clock else time.perf_counter()  # it "arrived" when it was due
            self._index += 1
            return out

    def close(self) -> None:
        """Close the file (the pipeline has joined the decoder before this is called)."""
        self._stop.set()
        self._opened = False
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.close()
