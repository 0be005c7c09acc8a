"""Stage lifecycle: ``open()`` once, ``process()`` per frame, ``close()`` once.

As with MediaPipe calculators, nothing heavy happens in ``__init__``; ``open()`` acquires resources
(files, models, devices) and ``close()`` releases them. The pipeline calls ``close()`` only on stages
whose ``open()`` succeeded, and ``close()`` must be idempotent. Sinks also have ``finish()``, called
once after the last frame on a clean end of stream: that is where a file sink commits its output. A
sink closed without ``finish()`` discards what it wrote, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

from rtseg.frame import Frame


class Stage(ABC):  # noqa: B024 - the lifecycle hooks are optional by design
    """Common lifecycle of every stage. Subclasses set ``name`` (used in stats and errors)."""

    name: str = "stage"

    def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire resources. Called once, in the caller's thread, before any frame."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Idempotent; called once ``open()`` has succeeded, also after errors."""

    def __enter__(self) -> Stage:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SourceStage(Stage):
    """Produces frames. ``read()`` returns the next frame, or None at end of stream."""

    name = "source"
    live: bool = False
    """True for sources whose frames arrive on a clock (camera, realtime replay)."""

    @abstractmethod
    def read(self) -> Frame | None: ...

    def request_stop(self) -> None:
        """Ask a (live) source to end its stream at the next frame. Called from another thread."""


class ProcessStage(Stage):
    """Transforms frames. ``process()`` returns the frame to pass on, or None to drop it."""

    @abstractmethod
    def process(self, frame: Frame) -> Frame | None: ...


class SinkStage(Stage):
    """Consumes frames. ``finish()`` commits the output after a clean end of stream."""

    name = "sink"

    @abstractmethod
    def process(self, frame: Frame) -> None: ...

    def finish(self) -> None:
        """Commit the output (flush encoders, rename temporary files). Only on success."""


class FanOutSink(SinkStage):
    """Several sinks fed the same frames in one stage (virtual camera + preview + recording)."""

    name = "sinks"

    def __init__(self, sinks: list[SinkStage]) -> None:
        if not sinks:
            raise ValueError("FanOutSink needs at least one sink")
        self.sinks = sinks
        self._opened: list[SinkStage] = []

    def open(self) -> None:
        for sink in self.sinks:
            sink.open()
            self._opened.append(sink)

    def process(self, frame: Frame) -> None:
        for sink in self.sinks:
            sink.process(frame)

    def finish(self) -> None:
        for sink in self.sinks:
            sink.finish()

    def close(self) -> None:
        errors: list[BaseException] = []
        while self._opened:
            sink = self._opened.pop()
            try:
                sink.close()
            except Exception as exc:  # close every sink, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]
