"""The live path: flow limiter, real-time replay pacing, newest-mask compositing, fail-closed privacy.

Pacing logic is checked exactly with a simulated clock. The whole live graph (real clips, real
MediaPipe model) runs as ``jobs.build`` makes it; where a test counts frames, the replay runs on a
simulated clock with queues that hold the whole clip, so a busy machine cannot turn a scheduling
hiccup into a lost frame. On the real clock only what load cannot change is asserted. Slow models
are test stand-ins whose slowness is counted in frames or that sleep where only an order matters.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rtseg.effects.blur import privacy_blur
from rtseg.errors import SourceError
from rtseg.frame import MASK_READY, NEWEST_MASK, Frame, MaskResult, StreamInfo
from rtseg.graph.clock import SimulatedClock
from rtseg.graph.limiter import Admission, FlowLimiter
from rtseg.graph.queues import Stopped
from rtseg.jobs import JobPipeline, JobSpec, Overrides, build
from rtseg.segment.base import Segmenter
from rtseg.sources.realtime import RealtimeSource
from tests.conftest import DATA, require

CLIP30 = DATA / "webcam" / "thoughtful-640x360.mp4"  # 29.97 fps, 367 frames
FRAME_S = 1001 / 30000


# -- flow limiter ------------------------------------------------------------------------------------

def test_limiter_keeps_one_in_flight_and_drops_the_rest() -> None:
    lim: FlowLimiter[int] = FlowLimiter()
    stop = threading.Event()
    assert lim.offer(0) is Admission.IN_FLIGHT
    assert [lim.offer(i) for i in (1, 2, 3)] == [Admission.DROPPED] * 3
    assert lim.take(stop) == 0
    lim.done()
    assert lim.offer(4) is Admission.IN_FLIGHT and lim.take(stop) == 4
    assert (lim.offered, lim.dropped) == (5, 3)


def test_limiter_with_a_queue_keeps_the_newest_waiting_item() -> None:
    lim: FlowLimiter[int] = FlowLimiter(max_in_flight=1, max_in_queue=1)
    stop = threading.Event()
    assert lim.offer(0) is Admission.IN_FLIGHT
    assert lim.offer(1) is Admission.QUEUED
    assert lim.offer(2) is Admission.QUEUED  # replaces 1
    assert lim.take(stop) == 0
    lim.done()
    assert lim.take(stop) == 2
    assert lim.dropped == 1


def test_limiter_take_returns_on_stop() -> None:
    lim: FlowLimiter[int] = FlowLimiter()
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    with pytest.raises(Stopped):
        lim.take(stop)


# -- real-time replay on a simulated clock --------------------------------------------------------

def test_replay_releases_each_frame_when_it_is_due() -> None:
    clock = SimulatedClock(100.0)
    src = RealtimeSource(require(CLIP30), duration_s=0.5, clock=clock)
    with src:
        released = []
        while (f := src.read()) is not None:
            released.append((f.index, clock.now() - 100.0, f.timestamp))
    assert [i for i, _, _ in released] == list(range(15))  # 0.5 s at 29.97 fps
    for i, t, ts in released:
        assert t == pytest.approx(i * 1001 / 30000, abs=1e-6)
        assert ts == pytest.approx(i * 1001 / 30000, abs=1e-3)
    assert src.late_dropped == 0


def test_replay_skips_frames_when_decoding_falls_behind_the_clock() -> None:
    clock = SimulatedClock()
    src = RealtimeSource(require(CLIP30), duration_s=1.0, clock=clock)
    with src:
        first = src.read()
        assert first is not None and first.index == 0
        clock.advance(0.25)  # a 250 ms stall: frames due meanwhile are late
        nxt = src.read()
    assert nxt is not None
    # Frames 1..6 were due before 0.25 s - one frame of tolerance; the clock was not slowed down.
    assert src.late_dropped == 6
    assert nxt.timestamp == pytest.approx(7 * 1001 / 30000, abs=1e-3)


def test_replay_loops_with_increasing_pts_and_index(juggle: Path) -> None:
    clock = SimulatedClock()
    src = RealtimeSource(juggle, loop=True, duration_s=10.5, speed=1.0, clock=clock)  # the clip is 10.29 s
    with src:
        frames = list(iter(src.read, None))
    assert len(frames) == 252  # 247 + 5 frames of the second pass (10.5 s at 24 fps)
    assert src.loops == 1
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert [f.index for f in frames] == list(range(252))
    assert frames[247].timestamp == pytest.approx(247 / 24, abs=1e-3)
    assert np.array_equal(frames[247].image, frames[0].image)  # the second pass starts over


def test_replay_mirror_flips_left_right() -> None:
    plain = RealtimeSource(require(CLIP30), duration_s=0.05, clock=SimulatedClock())
    mirrored = RealtimeSource(require(CLIP30), duration_s=0.05, clock=SimulatedClock(), mirror=True)
    with plain, mirrored:
        a, b = plain.read(), mirrored.read()
    assert a is not None and b is not None
    assert np.array_equal(a.image[:, ::-1], b.image)


def test_replay_stops_promptly_on_request() -> None:
    src = RealtimeSource(require(CLIP30), speed=0.01)  # one frame every 3.3 s
    with src:
        assert src.read() is not None
        threading.Timer(0.1, src.request_stop).start()
        t0 = time.perf_counter()
        assert src.read() is None
    assert time.perf_counter() - t0 < 1.0


# -- the live graph ----------------------------------------------------------------------------------

def live_spec(**over: object) -> JobSpec:
    """A webcam job on the 29.97 fps clip replayed as a camera, into a null sink; ``section__key=value``."""
    data: dict = {"command": "webcam", "source": {"path": str(require(CLIP30)), "realtime": True, "loop": False},
                  "outputs": [{"kind": "null"}], "run": {"duration": 2.0, "status": False}}
    for key, value in over.items():
        section, name = key.split("__")
        data.setdefault(section, {})[name] = value
    return JobSpec.from_dict(data).check()


def on_simulated_clock(pipeline: JobPipeline, duration_s: float) -> SimulatedClock:
    """Replace the built replay's real clock with a simulated one (frames are due when the source asks)."""
    clock = SimulatedClock()
    pipeline.source = RealtimeSource(CLIP30, loop=False, duration_s=duration_s, clock=clock, label=str(CLIP30))
    return clock


class Collect:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def __call__(self, frame, stats) -> None:  # type: ignore[no-untyped-def]
        self.frames.append(frame)

    @property
    def indices(self) -> list[int]:
        return [f.index for f in self.frames]

    def mask_indices(self) -> list[int | None]:
        return [f.extras[NEWEST_MASK].index if NEWEST_MASK in f.extras else None for f in self.frames]


def privacy_blurred(frame: Frame) -> bool:
    return frame.output is not None and np.array_equal(frame.output, privacy_blur(frame.image, 30.0))


class SlowSegmenter:
    """A stand-in for a model slower than the camera: sleeps, then says "all foreground"."""

    name = "slow"

    def __init__(self, delay_s: float, hang_after: int | None = None, hang_s: float = 1.5) -> None:
        self.delay_s = delay_s
        self.hang_after = hang_after
        self.hang_s = hang_s
        self.calls = 0

    def open(self, info: StreamInfo | None = None) -> None:
        pass

    def segment(self, frame: Frame) -> MaskResult | None:
        self.calls += 1
        if self.hang_after is not None and self.calls > self.hang_after:
            time.sleep(self.hang_s)
        time.sleep(self.delay_s)
        return MaskResult(frame.index, np.ones((frame.height // 4, frame.width // 4), np.float32))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def segmented_so_far(pipeline: JobPipeline) -> int:
    """Frames the segment stage has finished with (offered to inference and given the newest mask)."""
    return len(pipeline.stats.stage_seconds.get("segment", ()))


def wait_for(condition, what: str, stop: threading.Event | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 30
    while not condition():
        if stop is not None and stop.is_set():
            return
        assert time.monotonic() < deadline, f"stuck waiting for {what}"
        time.sleep(0.0005)


class LateSegmenter(SlowSegmenter):
    """A model ``lag`` camera frames slower than real time: its answer for frame i comes once the
    segment stage has finished with frame i + ``lag``."""

    name = "late"

    def __init__(self, lag: int) -> None:
        super().__init__(0.0)
        self.lag = lag
        self.pipeline: JobPipeline | None = None
        self.started: list[int] = []

    def segment(self, frame: Frame) -> MaskResult | None:
        p = self.pipeline
        assert p is not None
        self.started.append(frame.index)
        wait_for(lambda: segmented_so_far(p) >= frame.index + self.lag + 1 or p.stopping, "the camera")
        return super().segment(frame)


class LockstepClock(SimulatedClock):
    """A simulated camera clock in lockstep with the live segment stage: frame k is released once the
    stage has finished frame k - 1, and not before a model answer due by then has been published
    (``started``: the frames the model was called on; an answer is due ``lag`` frames after its own).
    One frame of simulated time per frame the stage takes: a model's lateness is counted in frames,
    whatever the machine."""

    def __init__(self, pipeline: JobPipeline, started: list[int], lag: int) -> None:
        super().__init__()
        self.pipeline, self.started, self.lag = pipeline, started, lag
        self.released = 0

    def _ready(self, k: int) -> bool:
        p = self.pipeline
        if segmented_so_far(p) < k:
            return False
        limiter = p.segment.limiter
        if not limiter.in_flight:
            return True
        if len(self.started) < limiter.processed + 1:
            return False  # admitted, the worker has not picked it up yet
        return self.started[-1] + self.lag + 1 > k  # else its answer is due: wait until it is published

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        k = self.released
        wait_for(lambda: self._ready(k), f"frame {k}", stop)
        self.released += 1
        return super().wait_until(t, stop)


def test_replay_delivers_every_frame_in_order_and_each_segmented_frame_with_its_own_mask() -> None:
    # The real model. A frame admitted to inference may wait up to 1 s for its own mask, so every
    # frame that was segmented must carry its own mask; the others carry the newest older one.
    seen = Collect()
    pipeline = build(live_spec(run__queue_size=64, schedule__max_wait_ms=1000), on_output=seen)
    clock = on_simulated_clock(pipeline, 2.0)
    stats = pipeline.run()
    assert seen.indices == list(range(60))  # 2 s at 29.97 fps, in order
    assert stats.frames_in == stats.frames_out == 60 and stats.dropped == 0
    assert clock.now() == pytest.approx(59 * FRAME_S, abs=1e-6)  # the replay ran to the last frame's due time
    live = stats.extra["live"]
    # Each frame was segmented, dropped by the limiter, or held back by the change gate (no change).
    assert live["segmented"] + live["not_segmented"] + live["unchanged"] == 60 and live["segmented"] >= 1
    assert live["unchanged"] > 0  # the man sits still: the default live gate held some frames back
    masks = seen.mask_indices()
    own = sum(m == f.index for m, f in zip(masks, seen.frames, strict=True))
    assert masks[0] == 0 and own == live["segmented"] and live["stale_masks"] == 60 - own
    assert all(m is not None and m <= f.index for m, f in zip(masks, seen.frames, strict=True))
    assert masks == sorted(masks)  # type: ignore[type-var]  # the newest mask there was, never an older one
    # Frame 0 waited for its mask, so every frame had one: nothing was blurred for privacy.
    assert live["fail_closed_frames"] == 0
    assert all(f.alpha is not None and f.output is not None and not privacy_blurred(f) for f in seen.frames)
    assert live["replay"]["late_dropped"] == 0 and set(live["carry"]["age_frames"]) == {"p50", "p99", "max", "mean"}


def test_real_time_replay_accounts_for_every_frame_and_is_paced_by_the_clock() -> None:
    # The production graph on the real clock with the live queue size (2). A busy machine may lose
    # frames here (counted); what it cannot change is asserted.
    seen = Collect()
    stats = build(live_spec(), on_output=seen).run()
    doc = stats.to_json()
    live = doc["live"]
    assert live["queue_size"] == 2 and live["max_queue_depth"] <= 2
    # Every frame due in the 2 s was delivered, dropped in a queue, or skipped as late: all counted.
    assert stats.frames_out + stats.dropped == 60 and stats.frames_out >= 1
    late = live["replay"]["late_dropped"]
    assert stats.frames_in + late == 60
    assert stats.dropped == late + sum(n for q, n in stats.drops_by_queue.items() if q != "source (late)")
    assert seen.indices == sorted(set(seen.indices))
    # Each frame that reached the segment stage was segmented or skipped by the flow limiter.
    assert live["segmented"] + live["not_segmented"] + live["unchanged"] == doc["stages"]["segment"]["count"]
    # A frame's arrival time is its due time on the clock: paced by the clock, not by the pipeline.
    first = seen.frames[0]
    for f in seen.frames:
        assert f.t_in - first.t_in == pytest.approx(f.timestamp - first.timestamp, abs=1e-6)  # type: ignore[operator]
    assert stats.duration_s >= 59 * FRAME_S - 0.01  # the run lasted until the last frame was due
    # Every frame shown was composited with a mask, or blurred whole because none had come yet.
    assert all(f.output is not None and (f.alpha is not None or privacy_blurred(f)) for f in seen.frames)
    assert live["fail_closed_frames"] >= sum(f.alpha is None for f in seen.frames)


def test_a_slow_segmenter_does_not_hold_up_camera_frames_and_its_skips_are_counted() -> None:
    lag = 5  # each answer comes 5 camera frames late
    seg = LateSegmenter(lag)
    seen = Collect()
    # mask.gate = 0: every frame is offered to the model (none held back as unchanged).
    pipeline = build(live_spec(run__queue_size=64, schedule__max_wait_ms=0, mask__gate=0),
                     overrides=Overrides(segmenter=seg), on_output=seen)
    seg.pipeline = pipeline
    clock = LockstepClock(pipeline, seg.started, lag)
    pipeline.source = RealtimeSource(CLIP30, loop=False, duration_s=2.0, clock=clock, label="clip")
    stats = pipeline.run()
    live = stats.extra["live"]
    # Every camera frame reaches the sink: none waited for inference (the model waits for the camera,
    # so a frame waiting for its mask would never come).
    assert seen.indices == list(range(60))
    assert stats.frames_out == 60 and stats.dropped == 0
    # One frame in six is segmented (one in flight, each answer 5 frames late); the others were
    # skipped by the flow limiter, and counted.
    assert seg.started == list(range(0, 60, lag + 1))
    assert (live["segmented"], live["not_segmented"]) == (10, 50)
    # Each frame carries the newest mask there was: frames 6..11 frame 0's, 12..17 frame 6's, ...
    assert seen.mask_indices() == [None] * 6 + [i - i % (lag + 1) - (lag + 1) for i in range(6, 60)]
    assert live["stale_masks"] == 54 and live["carry"]["age_frames"]["max"] == 2 * lag + 1
    assert [f.extras["carry_age"] for f in seen.frames[6:12]] == [6, 7, 8, 9, 10, 11]
    # Frames before the first mask were blurred whole; the rest composited with the carried mask.
    assert all(privacy_blurred(f) for f in seen.frames[:6]) and live["fail_closed_frames"] == 6
    assert not any(privacy_blurred(f) for f in seen.frames[6:])


def test_fail_closed_blurs_the_whole_frame_when_masks_stop_coming() -> None:
    seg = SlowSegmenter(0.01, hang_after=3)  # three masks, then the model hangs (1.5 s, past the run)
    outputs: list[tuple[float, float, bool]] = []

    def check(frame, stats) -> None:  # type: ignore[no-untyped-def]
        # The composite decided between these two instants how old the newest mask was.
        ready = frame.stamps.get(MASK_READY, float("-inf"))
        outputs.append((frame.stamps["composite.start"] - ready, frame.stamps["composite.end"] - ready,
                        privacy_blurred(frame)))

    spec = live_spec(run__duration=1.0, run__queue_size=64, effect__fail_closed_ms=150)
    stats = build(spec, overrides=Overrides(segmenter=seg), on_output=check).run()
    assert stats.frames_out + stats.dropped == 30 and stats.frames_out == len(outputs)
    # Frames whose newest mask was more than 150 ms old are blurred whole; fresh ones are not.
    assert any(whole for *_, whole in outputs) and any(not whole for *_, whole in outputs)
    assert all(whole for oldest, _, whole in outputs if oldest > 0.15)
    assert not any(whole for _, newest, whole in outputs if newest <= 0.15)
    assert stats.extra["live"]["fail_closed_frames"] == sum(whole for *_, whole in outputs)
    assert stats.extra["live"]["effect"]["fail_closed_ms"] == 150


def test_a_failing_segmenter_stops_the_run_with_its_error() -> None:
    class Broken(SlowSegmenter):
        def segment(self, frame: Frame) -> MaskResult | None:
            self.calls += 1
            if self.calls > 5:  # a few frames work, then the worker fails
                raise ValueError("model exploded")
            return MaskResult(frame.index, np.ones(frame.image.shape[:2], np.float32))

    seg: Segmenter = Broken(0)
    assert isinstance(seg, Segmenter)
    with pytest.raises(ValueError, match="model exploded") as info:
        build(live_spec(), overrides=Overrides(segmenter=seg)).run()
    assert any("segment/infer" in note for note in getattr(info.value, "__notes__", []))


def test_replay_of_a_truncated_file_raises_the_decoder_error_in_read(tmp_path: Path) -> None:
    data = require(CLIP30).read_bytes()
    bad = tmp_path / "half.mp4"
    bad.write_bytes(data[: len(data) // 2])
    src = RealtimeSource(bad, clock=SimulatedClock())
    with src, pytest.raises(SourceError, match=r"truncated video .*half\.mp4: decoded \d+ of 367 frames"):
        while src.read() is not None:
            pass
