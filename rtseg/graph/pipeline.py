"""The pipeline runner: one thread per stage, bounded queues between them.

The first exception raised in any stage sets a shared stop event; every queue wait watches that
event, so all threads leave promptly, every opened stage is closed (sinks without ``finish()``, which
discards partial output), and the original exception is re-raised in the caller with its traceback.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence

from rtseg.errors import PipelineError
from rtseg.frame import Frame
from rtseg.graph.queues import EOS, BoundedQueue, Policy, Stopped
from rtseg.graph.stage import FanOutSink, ProcessStage, SinkStage, SourceStage, Stage
from rtseg.graph.stats import RunStats

OutputCallback = Callable[[Frame, RunStats], None]


class Pipeline:
    """A linear stage graph ``source → stages… → sink`` run with one thread per stage.

    ``policy`` defaults to ``drop_oldest`` for live sources and ``block`` otherwise. With
    ``finish_on_interrupt`` (live use) the first Ctrl-C ends the stream cleanly, so recordings are
    kept; a second Ctrl-C aborts.

    >>> from rtseg.sources.synthetic import SyntheticSource
    >>> from rtseg.sinks.null import NullSink
    >>> stats = Pipeline(SyntheticSource(64, 48, frames=5), [], NullSink()).run()
    >>> stats.frames_out
    5
    """

    def __init__(
        self,
        source: SourceStage,
        stages: Sequence[ProcessStage],
        sink: SinkStage | Sequence[SinkStage],
        *,
        queue_size: int = 4,
        policy: Policy | None = None,
        on_output: OutputCallback | None = None,
        finish_on_interrupt: bool = False,
    ) -> None:
        self.source = source
        self.stages = list(stages)
        self.sink = sink if isinstance(sink, SinkStage) else FanOutSink(list(sink))
        self.policy = policy or (Policy.DROP_OLDEST if source.live else Policy.BLOCK)
        self.queue_size = queue_size
        self.on_output = on_output
        self.finish_on_interrupt = finish_on_interrupt
        self.stats = RunStats()
        self._stop = threading.Event()
        self._source_stop = threading.Event()
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._ran = False
        names = [s.name for s in self._all_stages]
        self.queues: list[BoundedQueue[Frame]] = [
            BoundedQueue(queue_size, self.policy, name=f"{a}->{b}") for a, b in itertools.pairwise(names)
        ]

    @property
    def _all_stages(self) -> list[Stage]:
        return [self.source, *self.stages, self.sink]

    def request_stop(self) -> None:
        """End the stream after the current frame; frames already in flight are still delivered."""
        self._source_stop.set()
        self.source.request_stop()

    def abort(self) -> None:
        """Stop every stage now; partial outputs are discarded."""
        self._stop.set()

    def _fail(self, stage: Stage, exc: BaseException) -> None:
        with self._error_lock:
            if self._error is None:
                exc.add_note(f"(raised in rtseg stage '{stage.name}')")
                self._error = exc
        self._stop.set()

    # -- workers ---------------------------------------------------------------------------------

    def _run_source(self, out: BoundedQueue[Frame]) -> None:
        src, stats, stop = self.source, self.stats, self._stop
        try:
            while not stop.is_set() and not self._source_stop.is_set():
                t0 = time.perf_counter()
                frame = src.read()
                if frame is None:
                    break
                stats.record_stage(src.name, time.perf_counter() - t0)
                stats.frames_in += 1
                out.put(frame, stop)
            out.put(EOS, stop)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(src, exc)

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
                    with stats._lock:
                        stats.drops_by_queue[stage.name] = stats.drops_by_queue.get(stage.name, 0) + 1
                    continue
                result.stamps[start_key] = t0
                result.stamps[end_key] = t1
                out.put(result, stop)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(stage, exc)

    def _run_sink(self, inq: BoundedQueue[Frame]) -> None:
        sink, stats, stop = self.sink, self.stats, self._stop
        try:
            while True:
                item = inq.get(stop)
                if item is EOS:
                    sink.finish()
                    return
                assert isinstance(item, Frame)
                t0 = time.perf_counter()
                sink.process(item)
                t1 = time.perf_counter()
                stats.record_stage(sink.name, t1 - t0)
                stats.record_output(item.t_in, t1)
                if self.on_output is not None:
                    self.on_output(item, stats)
        except Stopped:
            pass
        except BaseException as exc:
            self._fail(sink, exc)

    # -- running ---------------------------------------------------------------------------------

    def _open_all(self) -> list[Stage]:
        opened: list[Stage] = []
        try:
            for stage in self._all_stages:
                stage.open()
                opened.append(stage)
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

    def run(self) -> RunStats:
        """Open every stage, run until end of stream, close everything, and return the stats.

        Raises the first exception any stage raised (with its original traceback), or
        ``KeyboardInterrupt`` if the run was aborted by Ctrl-C.
        """
        if self._ran:
            raise PipelineError("a Pipeline can run only once; build a new one")
        self._ran = True
        opened = self._open_all()
        q = self.queues
        threads = [threading.Thread(target=self._run_source, args=(q[0],), name=f"rtseg-{self.source.name}")]
        for i, stage in enumerate(self.stages):
            threads.append(threading.Thread(target=self._run_process, args=(stage, q[i], q[i + 1]),
                                            name=f"rtseg-{stage.name}"))
        threads.append(threading.Thread(target=self._run_sink, args=(q[-1],), name=f"rtseg-{self.sink.name}"))
        for t in threads:
            t.daemon = True
        self.stats.start()
        for t in threads:
            t.start()
        aborted = False
        interrupts = 0
        while True:
            try:
                for t in threads:
                    while t.is_alive():
                        t.join(0.1)
                break
            except KeyboardInterrupt:
                interrupts += 1
                if self.finish_on_interrupt and interrupts == 1:
                    self.request_stop()
                else:
                    aborted = True
                    self._stop.set()
        self.stats.stop()
        self.stats.drops_by_queue.update({qq.name: qq.dropped for qq in q if qq.dropped})
        self.stats.dropped = sum(self.stats.drops_by_queue.values())
        close_error = self._close_all(opened)
        if self._error is not None:
            raise self._error
        if aborted:
            raise KeyboardInterrupt
        if close_error is not None:
            raise close_error
        return self.stats
