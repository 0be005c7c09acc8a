"""The stage-graph runtime: end of stream, ordering, drop policies, error propagation, lifecycle."""

from __future__ import annotations

import _thread
import threading
import time
import traceback

import numpy as np
import pytest

from rtseg.errors import PipelineError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph import BoundedQueue, Pipeline, Policy, ProcessStage, SinkStage, SourceStage, Worker
from rtseg.graph.queues import EOS

STOP = threading.Event()


class CountingSource(SourceStage):
    def __init__(self, n: int, fail_at: int | None = None, live: bool = False, delay: float = 0.0) -> None:
        self.n, self.fail_at, self.live, self.delay = n, fail_at, live, delay
        self.i = 0
        self.opened = self.closed = 0
        self.stop_requested = threading.Event()

    def open(self) -> StreamInfo:
        self.opened += 1
        return StreamInfo(2, 2, live=self.live)

    def read(self) -> Frame | None:
        if self.i == self.fail_at:
            raise ValueError(f"source broke at {self.i}")
        if self.i >= self.n or self.stop_requested.is_set():
            return None
        if self.delay:
            time.sleep(self.delay)
        f = Frame(np.zeros((2, 2, 3), np.uint8), index=self.i, pts=self.i)
        self.i += 1
        return f

    def request_stop(self) -> None:
        self.stop_requested.set()

    def close(self) -> None:
        self.closed += 1


class Work(ProcessStage):
    def __init__(self, name: str = "work", fail_at: int | None = None, delay: float = 0.0,
                 drop_odd: bool = False, fail_open: bool = False) -> None:
        self.name, self.fail_at, self.delay, self.drop_odd, self.fail_open = name, fail_at, delay, drop_odd, fail_open
        self.opened = self.closed = 0

    def open(self, info: StreamInfo) -> None:
        self.info = info
        if self.fail_open:
            raise OSError("cannot open work stage")
        self.opened += 1

    def process(self, frame: Frame) -> Frame | None:
        if frame.index == self.fail_at:
            raise RuntimeError(f"{self.name} broke at {frame.index}")
        if self.delay:
            time.sleep(self.delay)
        if self.drop_odd and frame.index % 2:
            return None
        return frame

    def close(self) -> None:
        self.closed += 1


class Collect(SinkStage):
    def __init__(self, fail_at: int | None = None, delay: float = 0.0, on_frame=None) -> None:  # type: ignore[no-untyped-def]
        self.fail_at, self.delay, self.on_frame = fail_at, delay, on_frame
        self.indices: list[int] = []
        self.finished = False
        self.closed = 0

    def process(self, frame: Frame) -> None:
        if frame.index == self.fail_at:
            raise KeyError(f"sink broke at {frame.index}")
        if self.delay:
            time.sleep(self.delay)
        self.indices.append(frame.index)
        if self.on_frame:
            self.on_frame(frame)

    def finish(self) -> None:
        self.finished = True

    def close(self) -> None:
        self.closed += 1


def test_every_frame_arrives_in_order_and_end_of_stream_finishes_the_sink() -> None:
    src, sink = CountingSource(200), Collect()
    stats = Pipeline(src, [Work("a"), Work("b")], sink, queue_size=2).run()
    assert sink.indices == list(range(200))
    assert sink.finished
    assert (stats.frames_in, stats.frames_out, stats.dropped) == (200, 200, 0)
    assert src.closed == 1 and sink.closed == 1


def test_stats_report_every_stage_latency_and_throughput() -> None:
    stats = Pipeline(CountingSource(50), [Work("slow", delay=0.002)], Collect(), queue_size=2).run()
    doc = stats.to_json()
    assert set(doc["stages"]) == {"source", "slow", "sink"}
    assert doc["stages"]["slow"]["p50_ms"] >= 2.0
    assert doc["latency_ms"]["p50"] >= 2.0
    assert doc["fps"] > 0 and doc["frames_out"] == 50
    for key in ("frames_in", "frames_out", "dropped", "fps", "duration_s", "latency_ms", "stages",
                "cpu_percent", "max_rss_mb"):
        assert key in doc
    assert set(doc["latency_ms"]) == {"p50", "p95", "p99", "max"}


def test_frames_carry_per_stage_monotonic_stamps() -> None:
    seen: list[Frame] = []
    Pipeline(CountingSource(5), [Work("a"), Work("b")], Collect(on_frame=seen.append)).run()
    for f in seen:
        assert f.t_in <= f.stamps["a.start"] <= f.stamps["a.end"] <= f.stamps["b.start"] <= f.stamps["b.end"]


@pytest.mark.parametrize("where", ["source", "process", "sink"])
def test_first_error_in_any_stage_stops_everything_and_is_reraised(where: str) -> None:
    # Queues of 1 with a slow sink: the other threads are blocked on full/empty queues when it fails.
    src = CountingSource(10_000, fail_at=30 if where == "source" else None)
    work = Work("work", fail_at=30 if where == "process" else None)
    sink = Collect(fail_at=30 if where == "sink" else None, delay=0.001)
    expected = {"source": ValueError, "process": RuntimeError, "sink": KeyError}[where]
    t0 = time.perf_counter()
    with pytest.raises(expected) as info:
        Pipeline(src, [work], sink, queue_size=1).run()
    assert time.perf_counter() - t0 < 5.0
    # The original traceback survives: it points into the stage method that raised.
    frames = [fs.name for fs in traceback.extract_tb(info.value.__traceback__)]
    assert {"source": "read", "process": "process", "sink": "process"}[where] in frames
    assert any("rtseg stage" in note for note in getattr(info.value, "__notes__", []))
    assert not sink.finished, "a failed run must not commit its output"
    assert src.closed == work.closed == sink.closed == 1
    assert not any(t.name.startswith("rtseg-") for t in threading.enumerate())


def test_open_failure_closes_the_stages_opened_so_far_and_the_failing_one() -> None:
    """The failing stage is closed too (it may have acquired something before failing, or been
    interrupted by a signal part-way); the stages after it are neither opened nor closed."""
    src, sink = CountingSource(5), Collect()
    bad, later = Work("bad", fail_open=True), Work("later")
    with pytest.raises(OSError, match="cannot open work stage"):
        Pipeline(src, [bad, later], sink).run()
    assert src.closed == 1 and bad.closed == 1
    assert later.closed == 0 and later.opened == 0 and sink.closed == 0


def test_drop_oldest_counts_every_dropped_frame_and_keeps_the_newest() -> None:
    src = CountingSource(200, live=True)
    sink = Collect(delay=0.002)
    stats = Pipeline(src, [], sink, queue_size=2).run()
    assert stats.dropped > 0
    assert stats.dropped + len(sink.indices) == 200
    assert sink.indices == sorted(sink.indices)
    assert sink.indices[-1] == 199, "the newest frame must survive a drop_oldest queue"
    assert sink.finished


def test_block_policy_never_drops_even_with_a_slow_sink() -> None:
    sink = Collect(delay=0.001)
    stats = Pipeline(CountingSource(100), [], sink, queue_size=1, policy=Policy.BLOCK).run()
    assert stats.dropped == 0 and sink.indices == list(range(100))


def test_a_stage_may_drop_frames_and_the_drop_is_counted() -> None:
    sink = Collect()
    stats = Pipeline(CountingSource(10), [Work("limiter", drop_odd=True)], sink).run()
    assert sink.indices == [0, 2, 4, 6, 8]
    assert stats.dropped == 5 and stats.drops_by_queue == {"limiter": 5}


def test_queue_get_latest_takes_the_newest_and_never_skips_end_of_stream() -> None:
    q: BoundedQueue[int] = BoundedQueue(8)
    for i in range(4):
        q.put(i, STOP)
    q.put(EOS, STOP)
    assert q.get_latest(STOP) == 3 and q.dropped == 3
    assert q.get_latest(STOP) is EOS


def test_ctrl_c_aborts_promptly_and_discards_output() -> None:
    sink = Collect(delay=0.001, on_frame=lambda f: f.index == 20 and _thread.interrupt_main())
    with pytest.raises(KeyboardInterrupt):
        Pipeline(CountingSource(100_000), [Work()], sink, queue_size=2).run()
    assert not sink.finished and sink.closed == 1


def test_ctrl_c_on_live_input_ends_the_stream_and_keeps_the_output() -> None:
    sink = Collect(on_frame=lambda f: f.index == 20 and _thread.interrupt_main())
    src = CountingSource(100_000, live=True, delay=0.001)
    stats = Pipeline(src, [Work()], sink, finish_on_interrupt=True).run()
    assert sink.finished and src.stop_requested.is_set()
    assert 20 <= stats.frames_out < 1000


def test_a_pipeline_runs_once() -> None:
    p = Pipeline(CountingSource(1), [], Collect())
    p.run()
    with pytest.raises(PipelineError):
        p.run()


# -- stream info and owned workers -------------------------------------------------------------------


class Threaded(Work):
    """A stage with a thread of its own, declared to the pipeline (like the live inference worker)."""

    def __init__(self, fail: bool = False, stuck: bool = False) -> None:
        super().__init__("threaded")
        self.fail, self.stuck = fail, stuck
        self.ticks = 0
        self.running_at_close: bool | None = None
        self.worker_thread: threading.Thread | None = None
        self.release = threading.Event()

    def workers(self) -> list[Worker]:
        return [Worker("tick", self._tick)]

    def _tick(self, stop: threading.Event) -> None:
        self.worker_thread = threading.current_thread()
        if self.fail:
            raise ZeroDivisionError("worker broke")
        if self.stuck:
            self.release.wait(10)  # ignores ``stop``
            return
        while not stop.wait(0.001):
            self.ticks += 1

    def close(self) -> None:
        self.running_at_close = self.worker_thread is not None and self.worker_thread.is_alive()
        super().close()


def test_the_source_stream_info_reaches_every_stage_before_the_first_frame() -> None:
    src, work, sink = CountingSource(3), Work(), Collect()
    infos: list[StreamInfo] = []
    p = Pipeline(src, [work], sink, on_start=infos.append)
    p.run()
    assert infos == [StreamInfo(2, 2)] and p.info == infos[0] and work.info is infos[0]


def test_a_stage_worker_runs_during_the_run_and_is_joined_before_the_stage_closes() -> None:
    stage = Threaded()
    stats = Pipeline(CountingSource(50, delay=0.001), [stage], Collect()).run()
    assert stats.frames_out == 50
    assert stage.worker_thread is not None and stage.worker_thread.name == "rtseg-threaded-tick"
    assert stage.running_at_close is False and stage.closed == 1
    assert not any(t.name.startswith("rtseg-") for t in threading.enumerate())


def test_a_failing_worker_fails_the_run_with_its_own_error() -> None:
    stage, sink = Threaded(fail=True), Collect()
    with pytest.raises(ZeroDivisionError, match="worker broke") as info:
        Pipeline(CountingSource(100_000, delay=0.001), [stage], sink).run()
    assert any("threaded/tick" in note for note in getattr(info.value, "__notes__", []))
    assert not sink.finished and stage.closed == 1 and sink.closed == 1


def test_a_worker_that_does_not_stop_is_reported_by_name_and_its_stage_left_open() -> None:
    stage = Threaded(stuck=True)
    try:
        with pytest.raises(PipelineError, match=r"stage 'threaded' did not stop its worker 'tick' within 0\.2 s"):
            Pipeline(CountingSource(5), [stage], Collect(), stop_deadline_s=0.2).run()
        assert stage.closed == 0  # never closed under its own running thread
    finally:
        stage.release.set()


def test_pipeline_workers_of_no_stage_are_run_and_stopped() -> None:
    seen: list[str] = []

    def run(stop: threading.Event) -> None:
        seen.append("started")
        stop.wait()
        seen.append("stopped")

    p = Pipeline(CountingSource(5), [], Collect(), workers=[Worker("status", run)])
    p.run()
    assert seen == ["started", "stopped"]


def test_frames_yields_every_output_in_order_and_leaving_early_stops_the_run() -> None:
    assert [f.index for f in Pipeline(CountingSource(20), [Work()]).frames()] == list(range(20))
    src = CountingSource(100_000)
    sink = Collect()
    for f in Pipeline(src, [Work()], sink).frames():
        if f.index == 10:
            break
    assert src.closed == 1 and sink.closed == 1 and not sink.finished
