"""The pipeline runner: one thread per stage, bounded queues between them, every thread owned.

The source is opened first; the :class:`~rtseg.frame.StreamInfo` it returns is handed to every other
stage's ``open(info)``. Then the runtime starts one thread per stage plus every worker the stages
declare (:meth:`~rtseg.graph.stage.Stage.workers`). The first exception raised anywhere sets a shared
stop event; every queue wait watches that event, so all threads leave promptly. Workers are stopped
and joined before any stage is closed (a stage is never closed under a running thread of its own),
every opened stage is closed (sinks without ``finish()``, which discards partial output), and the
original exception is re-raised in the caller with its traceback.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType

from rtseg.errors import PipelineError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.queues import EOS, BoundedQueue, Policy, Stopped
from rtseg.graph.stage import ProcessStage, SinkStage, SourceStage, Stage, Worker
from rtseg.graph.stats import RunStats
from rtseg.imaging import resize_image

log = logging.getLogger("rtseg")

OutputCallback = Callable[[Frame, RunStats], None]
StartCallback = Callable[[StreamInfo], None]

QUEUE_SIZE = 4
"""Frames a queue between two stages holds unless told otherwise (a file job's queues)."""
STOP_DEADLINE_S = 10.0
"""How long a worker may take to stop before the run is reported as stuck (by the worker's name)."""


_iterated: weakref.WeakSet[Pipeline] = weakref.WeakSet()
"""Pipelines running behind a :meth:`Pipeline.frames` iterator that has not ended yet."""
_exit_hook: list[bool] = []


def _stop_iterated_at_exit() -> None:
    """A ``frames()`` iterator left open when the interpreter exits (``it = p.frames(); next(it)``, then the
    script ends): stop its pipeline and wait for its threads, so that no native library (FFmpeg, ONNX
    Runtime, LiteRT) is torn down under a thread still inside it (which aborts the process)."""
    running = list(_iterated)
    for pipeline in running:
        pipeline.abort()
    for pipeline in running:
        runner = pipeline._runner
        if runner is not None:
            runner.join(timeout=pipeline.stop_deadline_s + 5)


class _CollectSink(SinkStage):
    """Hands every output frame to :meth:`Pipeline.frames` through a bounded queue."""

    name = "frames"

    def __init__(self, queue: BoundedQueue[Frame], stop: threading.Event) -> None:
        self.queue, self.stop = queue, stop

    def process(self, frame: Frame) -> None:
        self.queue.put(frame, self.stop)

    def finish(self) -> None:
        self.queue.put(EOS, self.stop)


class _Controls(Stage):
    """Owner of the workers that belong to no stage (live controls: adaptive loop, status line)."""

    name = "controls"

    def __init__(self, workers: Sequence[Worker]) -> None:
        self._workers = list(workers)

    def add(self, workers: Sequence[Worker]) -> None:
        self._workers.extend(workers)

    def workers(self) -> Sequence[Worker]:
        return self._workers


class Pipeline:
    """A linear stage graph ``source → stages… → sinks`` run with one thread per stage.

    ``policy`` defaults to ``drop_oldest`` for live sources and ``block`` otherwise. With
    ``finish_on_interrupt`` (live use) the first Ctrl-C ends the stream cleanly, so recordings are
    kept; a second Ctrl-C aborts. ``on_start`` is called with the stream info once the source is
    open, ``on_output`` after each frame left the sinks. ``workers`` are threads of no stage (live
    controls) that the pipeline runs, stops and joins like the stages' own.

    >>> from rtseg.sources.synthetic import SyntheticSource
    >>> from rtseg.sinks.null import NullSink
    >>> Pipeline(SyntheticSource(64, 48, frames=5), [], NullSink()).run().frames_out
    5
    >>> [f.index for f in Pipeline(SyntheticSource(64, 48, frames=3), []).frames()]
    [0, 1, 2]
    """

    def __init__(
        self,
        source: SourceStage,
        stages: Sequence[ProcessStage],
        sinks: SinkStage | Sequence[SinkStage] = (),
        *,
        queue_size: int = QUEUE_SIZE,
        policy: Policy | None = None,
        on_output: OutputCallback | None = None,
        on_start: StartCallback | None = None,
        finish_on_interrupt: bool = False,
        stop_deadline_s: float = STOP_DEADLINE_S,
        workers: Sequence[Worker] = (),
    ) -> None:
        self.source = source
        self.stages = list(stages)
        self.sinks: list[SinkStage] = [sinks] if isinstance(sinks, SinkStage) else list(sinks)
        self.policy = policy or (Policy.DROP_OLDEST if source.live else Policy.BLOCK)
        self.queue_size = queue_size
        self.on_output = on_output
        self.on_start = on_start
        self.finish_on_interrupt = finish_on_interrupt
        self.stop_deadline_s = stop_deadline_s
        self.controls = _Controls(workers)
        self.stats = RunStats()
        self.info: StreamInfo | None = None
        """The source's stream info, once the run has opened it."""
        self.queues: list[BoundedQueue[Frame]] = []
        self._stop = threading.Event()
        self._source_stop = threading.Event()
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._ran = False
        self._runner: threading.Thread | None = None

    def add_workers(self, workers: Sequence[Worker]) -> None:
        """Threads of no stage (live controls) for the pipeline to run, stop and join; before ``run()``."""
        self.controls.add(workers)

    def request_stop(self) -> None:
        """End the stream after the current frame; frames already in flight are still delivered."""
        self._source_stop.set()
        self.source.request_stop()

    def abort(self) -> None:
        """Stop every stage now; partial outputs are discarded."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _fail(self, who: str, exc: BaseException) -> None:
        with self._error_lock:
            if self._error is None:
                exc.add_note(f"(raised in rtseg stage '{who}')")
                self._error = exc
        self._stop.set()

    # -- threads ---------------------------------------------------------------------------------

    def _run_source(self, out: BoundedQueue[Frame]) -> None:
        src, stats, stop, info = self.source, self.stats, self._stop, self.info
        assert info is not None
        size = info.size
        try:
            while not stop.is_set() and not self._source_stop.is_set():
                t0 = time.perf_counter()
                frame = src.read()
                if frame is None:
                    break
                if (frame.width, frame.height) != size:
                    # The one place a change of frame size is handled: back to the stream's size.
                    if not stats.size_changes:
                        log.info("input frames changed size to %dx%d; scaling them to %dx%d",
                                 frame.width, frame.height, *size)
                    stats.size_changes += 1
                    frame.image = resize_image(frame.image, *size)
                stats.record_stage(src.name, time.perf_counter() - t0)
                stats.frames_in += 1
                out.put(frame, stop)
            out.put(EOS, stop)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(src.name, exc)

    def _run_process(self, stage: ProcessStage, inq: BoundedQueue[Frame], out: BoundedQueue[Frame]) -> None:
        stats, stop = self.stats, self._stop
        start_key, end_key = f"{stage.name}.start", f"{stage.name}.end"
        try:
            while True:
                item = inq.get(stop)
                if item is EOS:
                    out.put(EOS, stop)
                    return
                assert isinstance(item, Frame)
                t0 = time.perf_counter()
                result = stage.process(item)
                t1 = time.perf_counter()
                stats.record_stage(stage.name, t1 - t0)
                if result is None:
                    stats.count_drop(stage.name)
                    continue
                result.stamps[start_key] = t0
                result.stamps[end_key] = t1
                out.put(result, stop)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(stage.name, exc)

    def _run_sink(self, sink: SinkStage, inq: BoundedQueue[Frame], primary: bool = True) -> None:
        """One sink's thread. The primary (first) sink's frames are the run's output (fps, latency,
        ``on_output``). An ``optional`` sink that fails ends alone: one log line, its partial output
        discarded, its queue closed so nothing upstream waits for it; the other sinks go on."""
        stats, stop = self.stats, self._stop
        try:
            while True:
                item = inq.get(stop)
                if item is EOS:
                    if not stop.is_set():  # a failed or aborted run (e.g. a worker's error) commits nothing
                        sink.finish()
                    return
                assert isinstance(item, Frame)
                t0 = time.perf_counter()
                sink.process(item)
                t1 = time.perf_counter()
                stats.record_stage(sink.name, t1 - t0)
                if primary:
                    stats.record_output(item.t_in, t1)
                    if self.on_output is not None:
                        self.on_output(item, stats)
        except Stopped:
            pass
        except BaseException as exc:
            if not sink.optional or isinstance(exc, KeyboardInterrupt):
                self._fail(sink.name, exc)
                return
            inq.close()
            log.warning("%s stopped, the other outputs go on: %s", sink.name, exc)
            stats.sink_errors[sink.name] = str(exc)
            try:
                sink.close()
            except Exception as close_exc:  # the sink is gone either way; say so once
                log.warning("%s could not be closed cleanly: %s", sink.name, close_exc)

    def _run_tee(self, inq: BoundedQueue[Frame], outs: list[BoundedQueue[Frame]]) -> None:
        """Hand every frame to each sink's own queue (each with its own leak policy)."""
        stop = self._stop
        try:
            while True:
                item = inq.get(stop)
                for q in outs:
                    q.put(item, stop)
                if item is EOS:
                    return
        except Stopped:
            pass
        except BaseException as exc:
            self._fail("outputs", exc)

    def _run_worker(self, stage: Stage, worker: Worker, stop: threading.Event) -> None:
        try:
            worker.run(stop)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(f"{stage.name}/{worker.name}", exc)

    # -- running ---------------------------------------------------------------------------------

    def _sink_policy(self, sink: SinkStage) -> Policy:
        """A sink's own queue: the pipeline's policy, or on live input the sink's ``live_policy``."""
        if self.policy is Policy.DROP_OLDEST and sink.live_policy is not None:
            return sink.live_policy
        return self.policy

    def _open_all(self) -> list[Stage]:
        opened: list[Stage] = []
        try:
            opened.append(self.source)
            info = self.source.open()
            self.info = info
            if self.on_start is not None:
                self.on_start(info)
            downstream: list[ProcessStage | SinkStage] = [*self.stages, *self.sinks]
            for stage in downstream:
                # A stage whose open() fails part-way (or is interrupted by Ctrl-C/SIGTERM) is closed
                # too, so what it had acquired (a partial output folder) goes: close() is idempotent.
                opened.append(stage)
                stage.open(info)
        except BaseException:
            self._close_all(opened)
            raise
        return opened

    @staticmethod
    def _close_all(opened: list[Stage]) -> BaseException | None:
        first: BaseException | None = None
        for stage in reversed(opened):
            try:
                stage.close()
            except Exception as exc:
                first = first or exc
        return first

    def _stop_workers(self, workers: list[tuple[Stage, Worker, threading.Thread]],
                      worker_stop: threading.Event) -> set[Stage]:
        """Stop and join every worker; the stages whose workers did not stop in time."""
        worker_stop.set()
        for _, worker, _ in workers:
            if worker.wake is not None:
                worker.wake()
        deadline = time.monotonic() + self.stop_deadline_s
        stuck: set[Stage] = set()
        for stage, worker, thread in workers:
            if thread.ident is None:  # never started (the run was interrupted while starting)
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.add(stage)
                self._fail(stage.name, PipelineError(
                    f"stage '{stage.name}' did not stop its worker '{worker.name}' within "
                    f"{self.stop_deadline_s:g} s; its resources were left open"))
        return stuck

    def run(self) -> RunStats:
        """Open every stage, run until end of stream, close everything, and return the stats.

        Raises the first exception any stage raised (with its original traceback), or
        ``KeyboardInterrupt`` if the run was aborted by Ctrl-C.
        """
        if self._ran:
            raise PipelineError("a Pipeline can run only once; build a new one")
        self._ran = True
        if not self.sinks:
            raise PipelineError("a pipeline needs at least one sink (or iterate it with frames())")
        sinks = self.sinks
        last = self.stages[-1].name if self.stages else self.source.name
        names = [s.name for s in [self.source, *self.stages]]
        self.queues = [BoundedQueue(self.queue_size, self.policy, name=f"{a}->{b}")
                       for a, b in itertools.pairwise(names)]
        if len(sinks) == 1:
            sink_queues = [BoundedQueue[Frame](sinks[0].queue_size or self.queue_size, self._sink_policy(sinks[0]),
                                               name=f"{last}->{sinks[0].name}")]
            self.queues.append(sink_queues[0])
        else:
            self.queues.append(BoundedQueue(self.queue_size, self.policy, name=f"{last}->outputs"))
            sink_queues = [BoundedQueue(k.queue_size or self.queue_size, self._sink_policy(k),
                                        name=f"outputs->{k.name}") for k in sinks]
        opened = self._open_all()
        q = self.queues
        account = self.stats.cpu_accounted
        threads = [threading.Thread(target=account(self.source.name, self._run_source), args=(q[0],),
                                    name=f"rtseg-{self.source.name}")]
        for i, stage in enumerate(self.stages):
            threads.append(threading.Thread(target=account(stage.name, self._run_process), args=(stage, q[i], q[i + 1]),
                                            name=f"rtseg-{stage.name}"))
        if len(sinks) > 1:
            threads.append(threading.Thread(target=account("outputs", self._run_tee), args=(q[-1], sink_queues),
                                            name="rtseg-outputs"))
        for i, (k, kq) in enumerate(zip(sinks, sink_queues, strict=True)):
            threads.append(threading.Thread(target=account(k.name, self._run_sink), args=(k, kq, i == 0),
                                            name=f"rtseg-{k.name}"))
        worker_stop = threading.Event()
        workers = [(stage, w, threading.Thread(target=account(w.name, self._run_worker), args=(stage, w, worker_stop),
                                               name=f"rtseg-{stage.name}-{w.name}", daemon=True))
                   for stage in [*opened, self.controls] for w in stage.workers()]
        for t in threads:
            t.daemon = True
        self.stats.start()
        aborted = False
        interrupts = 0
        all_started = False
        while True:
            # Starting the threads is inside the interrupt handling: Ctrl-C or SIGTERM can arrive at any
            # moment, and an interrupted start must still stop what started and close what opened.
            try:
                if not all_started:
                    for t in [*(w for _, _, w in workers), *threads]:
                        if t.ident is None:
                            t.start()
                    all_started = True
                for t in threads:
                    while t.is_alive():
                        t.join(0.1)
                break
            except KeyboardInterrupt:
                interrupts += 1
                if self.finish_on_interrupt and interrupts == 1 and all_started:
                    self.request_stop()
                else:
                    aborted = True
                    self._stop.set()
                    all_started = True  # start nothing more; join what started (it sees the stop)
        stuck = self._stop_workers(workers, worker_stop)
        self.stats.stop()
        all_queues = [*q, *(sink_queues if len(sinks) > 1 else [])]
        self.stats.drops_by_queue.update({qq.name: qq.dropped for qq in all_queues if qq.dropped})
        self.stats.dropped = sum(self.stats.drops_by_queue.values())
        close_error = self._close_all([s for s in opened if s not in stuck])
        if self._error is not None:
            raise self._error
        if aborted:
            raise KeyboardInterrupt
        if close_error is not None:
            raise close_error
        return self.stats

    def frames(self) -> Iterator[Frame]:
        """Run the pipeline and yield each output frame (for your own sink).

        The frames pass through the pipeline's own sinks first, if it has any. Leaving the loop
        early stops the pipeline and discards partial outputs; an error in any stage is raised here.
        """
        if self._ran:
            raise PipelineError("a Pipeline can run only once; build a new one")
        out: BoundedQueue[Frame] = BoundedQueue(self.queue_size, Policy.BLOCK, name="frames")
        self.sinks.append(_CollectSink(out, self._stop))
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self.run()
            except BaseException as exc:
                failure.append(exc)
                self._stop.set()

        runner = threading.Thread(target=run, name="rtseg-pipeline", daemon=True)
        self._runner = runner
        if not _exit_hook:  # registered on first use, not at import
            atexit.register(_stop_iterated_at_exit)
            _exit_hook.append(True)
        _iterated.add(self)
        runner.start()
        finished = False
        try:
            while True:
                try:
                    item = out.get(self._stop)
                except Stopped:
                    break
                if item is EOS:
                    finished = True
                    break
                assert isinstance(item, Frame)
                yield item
        finally:
            if not finished:
                self._stop.set()
            runner.join()
            _iterated.discard(self)
        if failure and not (isinstance(failure[0], KeyboardInterrupt) and not finished):
            raise failure[0]

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()
