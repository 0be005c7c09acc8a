"""The live path: flow limiter, real-time replay pacing, newest-mask compositing, fail-closed privacy.

Pacing logic is checked exactly with a simulated clock; the whole graph runs for real (real clips,
real MediaPipe model, real clock) with shortened durations. A slow segmenter is a test stand-in that
sleeps, to show that the camera rate still reaches the sink.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rtseg.errors import SourceError
from rtseg.graph.queues import Stopped
from rtseg.live.clock import SimulatedClock
from rtseg.live.config import LiveConfig
from rtseg.live.limiter import Admission, FlowLimiter
from rtseg.live.pipeline import LiveSession
from rtseg.live.stages import MASK_READY, MASK_SOURCE_T_IN, privacy_blur
from rtseg.sources.realtime import RealtimeSource
from tests.conftest import DATA, require

CLIP30 = DATA / "webcam" / "thoughtful-640x360.mp4"  # 29.97 fps, 367 frames


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


# -- the live graph, for real ------------------------------------------------------------------------

class SlowSegmenter:
    """A stand-in for a model slower than the camera: sleeps, then says "all foreground"."""

    name = "slow"

    def __init__(self, delay_s: float, hang_after: int | None = None) -> None:
        self.delay_s = delay_s
        self.hang_after = hang_after
        self.calls = 0

    def open(self) -> None:
        pass

    def segment(self, image: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
        self.calls += 1
        if self.hang_after is not None and self.calls > self.hang_after:
            time.sleep(5.0)
        time.sleep(self.delay_s)
        return np.ones((image.shape[0] // 4, image.shape[1] // 4), np.float32)

    def close(self) -> None:
        pass


def live_cfg(**over: object) -> LiveConfig:
    data: dict = {"source": {"file": str(require(CLIP30)), "realtime": True, "loop": False},
                  "output": {"null": True}, "run": {"duration": 2.0, "status": False}, "flow": {}}
    for key, value in over.items():
        section, name = key.split("__")
        data.setdefault(section, {})[name] = value
    return LiveConfig.model_validate(data)


class Collect:
    def __init__(self) -> None:
        self.frames: list[tuple[int, float, float | None, float | None]] = []

    def __call__(self, frame, stats) -> None:  # type: ignore[no-untyped-def]
        self.frames.append((frame.index, time.perf_counter(), frame.stamps.get(MASK_SOURCE_T_IN),
                            frame.stamps.get(MASK_READY)))


def test_replay_at_nominal_load_delivers_every_frame_in_order_with_its_own_mask() -> None:
    # Queues of 8 so that a busy test machine cannot turn a scheduling hiccup into a drop; drops at
    # the live queue size (2) are measured by benchmarks/live.py on a quiet machine.
    seen = Collect()
    session = LiveSession(live_cfg(flow__queue_size=8), on_output=seen)
    stats = session.run()
    assert [i for i, *_ in seen.frames] == list(range(60))  # 2 s at 29.97 fps, in order
    assert stats.frames_in == stats.frames_out == 60 and stats.dropped == 0
    live = stats.extra["live"]
    assert live["segmented"] + live["not_segmented"] == 60
    assert live["segmented"] >= 45  # the real model keeps up: (almost) every frame gets its own mask
    assert live["fail_closed_frames"] == 0
    # Paced by the clock, not by the pipeline: 60 frames take ~2 s.
    assert 1.8 <= seen.frames[-1][1] - seen.frames[0][1] + 1 / 29.97 <= 2.6


def test_a_slow_segmenter_does_not_slow_the_camera_rate_and_its_skips_are_counted() -> None:
    seg = SlowSegmenter(0.2)
    seen = Collect()
    stats = LiveSession(live_cfg(), segmenter=seg, on_output=seen).run()
    live = stats.extra["live"]
    # Every camera frame reaches the sink, at the camera's rate ...
    assert [i for i, *_ in seen.frames] == list(range(60))
    assert stats.dropped == 0
    assert 1.8 <= seen.frames[-1][1] - seen.frames[0][1] + 1 / 29.97 <= 2.6
    # ... while only about one frame in six is segmented (200 ms per inference at 33 ms per frame).
    assert 8 <= live["segmented"] <= 14
    # Each frame was either segmented, skipped by the limiter, or still in inference at the end.
    assert 60 - live["segmented"] - live["not_segmented"] in (0, 1)
    assert live["stale_masks"] >= 40
    # The composite always used the newest mask there was: source times never go backwards.
    mask_src = [m for _, _, m, _ in seen.frames if m is not None]
    assert mask_src == sorted(mask_src) and len(set(mask_src)) >= 8


def test_fail_closed_blurs_the_whole_frame_when_masks_stop_coming() -> None:
    seg = SlowSegmenter(0.01, hang_after=3)  # three masks, then the model hangs
    outputs: list[tuple[float, bool]] = []

    def check(frame, stats) -> None:  # type: ignore[no-untyped-def]
        age = time.perf_counter() - frame.stamps.get(MASK_READY, 0.0)
        whole = np.array_equal(frame.output, privacy_blur(frame.image, 30.0))
        outputs.append((age, whole))

    session = LiveSession(live_cfg(run__duration=1.0, effect__fail_closed_ms=150), segmenter=seg, on_output=check)
    stats = session.run()
    assert stats.frames_out == 30
    # Frames whose newest mask is well past 150 ms old are blurred whole; fresh ones are not.
    assert any(whole for _, whole in outputs)
    assert all(whole for age, whole in outputs if age > 0.2)
    assert not any(whole for age, whole in outputs if age < 0.1)
    assert stats.extra["live"]["fail_closed_frames"] == sum(whole for _, whole in outputs)


def test_a_failing_segmenter_stops_the_run_with_its_error() -> None:
    class Broken(SlowSegmenter):
        def segment(self, image: np.ndarray, timestamp_ms: int | None = None) -> np.ndarray:
            self.calls += 1
            if self.calls > 5:  # the warm-up and a few frames work, then the worker fails
                raise ValueError("model exploded")
            return np.ones(image.shape[:2], np.float32)

    with pytest.raises(RuntimeError, match="segmentation worker failed") as info:
        LiveSession(live_cfg(), segmenter=Broken(0)).run()
    assert isinstance(info.value.__cause__, ValueError)


def test_replay_of_a_truncated_file_raises_the_decoder_error_in_read(tmp_path: Path) -> None:
    data = require(CLIP30).read_bytes()
    bad = tmp_path / "half.mp4"
    bad.write_bytes(data[: len(data) // 2])
    src = RealtimeSource(bad, clock=SimulatedClock())
    with src, pytest.raises(SourceError, match=r"truncated video .*half.mp4: decoded \d+ of 367 frames"):
        while src.read() is not None:
            pass
