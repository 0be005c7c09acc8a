"""Stage lifecycle: ``open()`` once, ``process()`` per frame, ``close()`` once.

As with MediaPipe calculators, nothing heavy happens in ``__init__``. A source's ``open()`` acquires
its input and returns the :class:`~rtseg.frame.StreamInfo`; every other stage's ``open(info)``
receives it and acquires its own resources (models, files, devices). The pipeline calls ``close()``
on every stage it called ``open()`` on, also when that ``open()`` failed part-way (Ctrl-C or SIGTERM
can land anywhere), so ``close()`` is idempotent and releases only what was acquired. Sinks also have
``finish()``, called once after the last frame on a clean end of stream: that is where a file sink
commits its output. A sink closed without ``finish()`` discards what it wrote, so a failed run
leaves nothing half-written.

A stage that needs a thread of its own (the inference worker behind the flow limiter, a camera
grabber) does not start it: it declares it in :meth:`Stage.workers` and the pipeline runs it, stops
it and joins it before anything is closed.
"""

from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from rtseg.frame import Frame, StreamInfo
from rtseg.graph.queues import Policy, Stopped


@dataclass(frozen=True)
class Worker:
    """A thread a stage needs, run by the pipeline: ``run(stop)`` returns once ``stop`` is set.

    An exception raised by ``run`` fails the pipeline like one raised by a stage. ``wake`` (optional)
    is called after ``stop`` is set, to interrupt a wait the event does not reach.
    """

    name: str
    run: Callable[[threading.Event], None]
    wake: Callable[[], None] | None = None


class WorkerThreads:
    """Runs a stage's workers when no pipeline does (a source used on its own with ``with``)."""

    def __init__(self, stage: Stage, deadline_s: float = 10.0) -> None:
        self.stage, self.deadline_s = stage, deadline_s
        self._stop = threading.Event()
        self._threads: list[tuple[Worker, threading.Thread]] = []

    def start(self) -> None:
        for w in self.stage.workers():
            t = threading.Thread(target=self._run, args=(w,), name=f"rtseg-{self.stage.name}-{w.name}",
                                 daemon=True)
            t.start()
            self._threads.append((w, t))

    def _run(self, worker: Worker) -> None:
        with contextlib.suppress(Stopped):  # the normal way out of a wait once stop is set (as in the pipeline)
            worker.run(self._stop)

    def stop(self) -> None:
        self._stop.set()
        for w, _ in self._threads:
            if w.wake is not None:
                w.wake()
        for w, t in self._threads:
            t.join(self.deadline_s)
            if t.is_alive():
                raise RuntimeError(f"stage '{self.stage.name}' did not stop its worker '{w.name}'")
        self._threads.clear()


class OwnThread:
    """A :class:`Worker` run in a thread of its own, outside a pipeline (a live control used on its own):
    :meth:`start`, then :meth:`stop` sets its stop event and joins it (for up to ``join_s``)."""

    def __init__(self, worker: Worker, *, join_s: float = 5.0) -> None:
        self.worker, self.join_s = worker, join_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.worker.run, args=(self._stop,), name=f"rtseg-{self.worker.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.join_s)
            self._thread = None


class Stage(ABC):  # noqa: B024 - the lifecycle hooks are optional by design
    """Common lifecycle of every stage. Subclasses set ``name`` (used in stats and errors)."""

    name: str = "stage"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Idempotent; called once ``open()`` has succeeded, also after errors."""

    def workers(self) -> Sequence[Worker]:
        """Threads the pipeline runs for this stage between ``open()`` and ``close()``."""
        return ()


class SourceStage(Stage):
    """Produces frames. ``open()`` returns the stream's info; ``read()`` the next frame or None at the end."""

    name = "source"
    live: bool = False
    """True for sources whose frames arrive on a clock (camera, realtime replay)."""
    _threads: WorkerThreads | None = None
    """The workers' threads while the source is used on its own (``with source:``)."""

    @abstractmethod
    def open(self) -> StreamInfo: ...

    @abstractmethod
    def read(self) -> Frame | None: ...

    def request_stop(self) -> None:
        """Ask a (live) source to end its stream at the next frame. Called from another thread."""

    def __enter__(self) -> SourceStage:
        self.open()
        self._threads = WorkerThreads(self)
        self._threads.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._threads is not None:
                self._threads.stop()
                self._threads = None
        finally:
            self.close()


class ProcessStage(Stage):
    """Transforms frames. ``process()`` returns the frame to pass on, or None to drop it."""

    def open(self, info: StreamInfo) -> None:
        """Acquire resources for a stream described by ``info``. Called once, before any frame."""

    @abstractmethod
    def process(self, frame: Frame) -> Frame | None: ...


class SinkStage(Stage):
    """Consumes frames. ``finish()`` commits the output after a clean end of stream.

    Each sink runs in its own thread behind its own bounded queue. On a live pipeline a sink may
    ask for its own leak policy (``live_policy``: a virtual camera drops the oldest frame, a
    recording blocks for a while and then drops); an ``optional`` sink that fails ends alone.
    """

    name = "sink"
    live_policy: Policy | None = None
    queue_size: int | None = None
    """Room in this sink's own queue (None: the pipeline's queue size)."""
    optional: bool = False

    def open(self, info: StreamInfo) -> None:
        """Acquire the output for a stream described by ``info``. Called once, before any frame."""

    @abstractmethod
    def process(self, frame: Frame) -> None: ...

    def finish(self) -> None:
        """Commit the output (flush encoders, rename temporary files). Only on success."""
